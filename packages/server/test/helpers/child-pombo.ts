import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
/** What `npm start` runs: the JavaScript `npm run build:server` compiled. */
export const COMPILED_MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
/** tsx by absolute URL, so that a child started in another folder (a temporary cwd) still finds it. */
const TSX = import.meta.resolve('tsx');

export interface SpawnOptions {
  /** The working folder (where `.env` and the default `./data` are). */
  cwd?: string;
  /** Start from an empty environment (only PATH and HOME) plus `env`, as a newcomer's shell would: no defaults added. */
  cleanEnv?: boolean;
  /** Run the compiled JavaScript with plain node (as `npm start` does) instead of the sources through tsx. */
  compiled?: boolean;
  /** Node.js flags before the entry point (a profiler: `--cpu-prof`). */
  nodeArgs?: readonly string[];
  /** A command that runs Pombo, given as its first words (`unshare --mount sh -c …`); it must exec Pombo, so that kill reaches it. */
  runUnder?: readonly string[];
}

export interface ChildPombo {
  child: ChildProcess;
  url: string;
  /** Everything the child wrote to stdout so far. */
  stdout(): string;
  /** The child's resident memory now, in bytes (Linux: /proc/<pid>/status). */
  rss(): number;
  kill(): Promise<void>;
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Pombo in a child process, for tests that kill it with SIGKILL and start it again on the same data.
 * Resolves once it answers on `/health`.
 */
export async function spawnPombo(env: Record<string, string>, port: number, options: SpawnOptions = {}): Promise<ChildPombo> {
  const base = options.cleanEnv ? { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } : { ...process.env, LOG_LEVEL: 'warn', SERVER_HOST: '127.0.0.1', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' };
  const [command = process.execPath, ...args] = [...(options.runUnder ?? []), process.execPath, ...(options.nodeArgs ?? []), ...(options.compiled ? [COMPILED_MAIN] : ['--import', TSX, MAIN])];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...base, ...env, SERVER_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  child.stdout?.on('data', (chunk) => (stdout += chunk));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Pombo exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`Pombo did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    url,
    stdout: () => stdout,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024,
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Calls a child Pombo's API with `key`; returns the parsed JSON answer, throws on a status of 300 or more. */
export async function callApi(url: string, key: string, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { apikey: key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Samples a child's resident memory every `everyMs` until stopped; returns the highest seen. */
export function peakRss(server: ChildPombo, everyMs = 100): { stop(): number } {
  let peak = server.rss();
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, server.rss());
    } catch {
      // exited
    }
  }, everyMs);
  // A test that fails before stopping it must still end.
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}
