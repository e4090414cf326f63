/** The realtime benchmarks' server and client processes, started and stopped by an orchestrator. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Starts one of the processes (`./server-process.ts`, `./client-process.ts`) with Node flags of its own; BENCH_NODE_ARGS adds more (a profiler). */
export const child = (file: string, nodeArgs: readonly string[] = []): ChildProcess =>
  fork(fileURLToPath(new URL(file, import.meta.url)), [], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...nodeArgs, ...(process.env.BENCH_NODE_ARGS?.split(' ') ?? [])],
    stdio: 'inherit',
  });

/** Lets a child exit on its own (so that profiles are written), killing it if it does not. */
export async function stop(process: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => process.once('exit', resolve));
  process.disconnect();
  const timer = setTimeout(() => process.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
