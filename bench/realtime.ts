/**
 * Realtime fan-out: 2,000 connected clients, events broadcast at a steady rate (after 10 unmeasured
 * warm-up events), then a burst. For Pombo's Socket.IO endpoint and its acknowledged WebSocket
 * protocol (`/events/ws`, with the SDK), and in the same run for a bare socket.io server and a bare
 * `ws` server broadcasting the same payloads: delivered messages per second, latency (emit → client)
 * p50/p99, server CPU per message, and server memory per idle connection: RSS, the share of it that is
 * V8's young generation growing, the heap the connections hold, and RSS again in a second start of
 * each server with its young generation fixed at V8's maximum (`FIXED_YOUNG_GENERATION`).
 *
 *   node --import tsx bench/realtime.ts     (BENCH_CLIENTS=2000 BENCH_RATE=5 BENCH_SECONDS=20 BENCH_BURST=100)
 *
 * Each server runs alone in a child process (its memory is its own), the clients in another (their
 * work does not run on the server's event loop). Loopback only.
 */
import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { child, stop } from './realtime/processes.ts';
import type { ClientKind, ClientReply, Memory, Received, ServerKind, ServerReply, Target } from './realtime/protocol.ts';
import { ask, deliveredOf, serverCpu } from './realtime/protocol.ts';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 2000);
const RATE = Number(process.env.BENCH_RATE ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const BURST = Number(process.env.BENCH_BURST ?? 100);
const WARMUP = 10;

const TARGETS: ReadonlyArray<{ target: Target; server: ServerKind; client: ClientKind; baseline?: Target }> = [
  { target: 'bare-socketio', server: 'bare-socketio', client: 'socketio' },
  { target: 'pombo-socketio', server: 'pombo', client: 'socketio', baseline: 'bare-socketio' },
  { target: 'bare-ws', server: 'bare-ws', client: 'ws' },
  { target: 'pombo-ws', server: 'pombo', client: 'sdk', baseline: 'bare-ws' },
];

interface Result {
  target: Target;
  connectMs: number;
  /** Server memory growth per idle connection, with V8's default young generation. */
  memory: PerConnection;
  /** The same with the server's young generation held at its maximum from the start. */
  fixedYoung: PerConnection;
  steady: Phase;
  burst: Phase;
}

/** Server memory growth per idle connection (bytes), each reading settled (`server-process.ts` `memory`). */
interface PerConnection {
  rss: number;
  /**
   * The part of the RSS growth that is V8's young generation growing (its pages, up to 32 MB in all):
   * a process-wide nursery that V8 sizes from the allocation it has seen, held by no connection.
   */
  young: number;
  /** What the connections hold: V8 heap in use plus external memory. */
  heap: number;
}

/**
 * V8 flags that hold the young generation at its default maximum (16 MB semi-spaces) from the start,
 * so that its growth, which depends on each process's allocation history, is not counted per connection.
 */
const FIXED_YOUNG_GENERATION = ['--min-semi-space-size=16', '--max-semi-space-size=16'];

interface Phase {
  received: Received;
  /** Messages delivered per second, from the first emit to the last message received. */
  perSecond: number;
  /** Server CPU time per delivered message (µs): steadier than throughput on a busy machine. */
  cpuPerMessage: number;
}

async function phase(server: ChildProcess, clients: ChildProcess, count: number, rate: number): Promise<Phase> {
  const timeoutMs = (rate > 0 ? (count / rate) * 1000 : 0) + 60_000;
  const cpuBefore = await serverCpu(server);
  const received = ask<Extract<ClientReply, { type: 'received' }>>(clients, { type: 'expect', count, timeoutMs }, 'received');
  const sent = await ask<Extract<ServerReply, { type: 'sent' }>>(server, { type: 'broadcast', count, rate }, 'sent');
  const result = (await received).received;
  const unique = result.messages - result.repeats;
  const cpuPerMessage = ((await serverCpu(server)) - cpuBefore) / unique;
  return { received: result, perSecond: unique / ((result.lastAt - sent.firstAt) / 1000), cpuPerMessage };
}

/** Starts the target's server and clients, connects every client, and reports the server's growth per connection. */
async function connectAll(target: (typeof TARGETS)[number], serverArgs: readonly string[] = []) {
  const server = child('./server-process.ts', serverArgs);
  const clients = child('./client-process.ts');
  const { endpoint } = await ask<Extract<ServerReply, { type: 'ready' }>>(server, { type: 'start', kind: target.server }, 'ready');
  const memory = async () => (await ask<Extract<ServerReply, { type: 'memory' }>>(server, { type: 'memory' }, 'memory')).memory;
  const before: Memory = await memory();
  const { ms } = await ask<Extract<ClientReply, { type: 'connected' }>>(clients, { type: 'connect', kind: target.client, endpoint, clients: CLIENTS }, 'connected');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after: Memory = await memory();
  const perConnection: PerConnection = {
    rss: (after.rss - before.rss) / CLIENTS,
    young: (after.youngGeneration - before.youngGeneration) / CLIENTS,
    heap: (after.heapUsed + after.external - before.heapUsed - before.external) / CLIENTS,
  };
  return { server, clients, ms, perConnection, stop: () => Promise.all([stop(server), stop(clients)]) };
}

async function measure(target: (typeof TARGETS)[number]): Promise<Result> {
  const run = await connectAll(target);
  let memory: PerConnection;
  let phases: { steady: Phase; burst: Phase };
  try {
    memory = run.perConnection;
    await phase(run.server, run.clients, WARMUP, RATE); // first events through cold code paths: not measured
    phases = { steady: await phase(run.server, run.clients, RATE * SECONDS, RATE), burst: await phase(run.server, run.clients, BURST, 0) };
  } finally {
    await run.stop();
  }
  const fixed = await connectAll(target, FIXED_YOUNG_GENERATION);
  await fixed.stop();
  return { target: target.target, connectMs: run.ms, memory, fixedYoung: fixed.perConnection, ...phases };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const ratio = (value: number, base: number) => (base ? (value / base).toFixed(2) : 'n/a');
const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;

function report(results: Result[]): void {
  const byTarget = new Map(results.map((result) => [result.target, result]));
  console.log(`\nrealtime fan-out: ${CLIENTS} clients, ${RATE} events/s for ${SECONDS} s, then a burst of ${BURST}; ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}\n`);
  console.log(row(['target', 'steady msgs/s', 'delivered', 'p50 ms', 'p99 ms', 'server CPU µs/msg', 'burst msgs/s', 'burst p99 ms', 'burst CPU µs/msg', 'RSS/conn (V8 defaults)', 'of which young gen', 'heap/conn', 'RSS/conn, fixed young gen']));
  console.log(row(Array(13).fill('---')));
  for (const { target, steady, burst, memory, fixedYoung } of results) {
    console.log(
      row([
        target,
        steady.perSecond.toFixed(0),
        deliveredOf(steady.received),
        steady.received.p50.toFixed(1),
        steady.received.p99.toFixed(1),
        steady.cpuPerMessage.toFixed(1),
        burst.perSecond.toFixed(0),
        burst.received.p99.toFixed(0),
        burst.cpuPerMessage.toFixed(1),
        kb(memory.rss),
        kb(memory.young),
        kb(memory.heap),
        kb(fixedYoung.rss),
      ]),
    );
  }
  // The memory target is judged on RSS per connection with V8's default settings, as a user runs the server; the other memory figures explain it.
  console.log('\nPombo / bare (targets: throughput ≥ 0.80, p99 < 100 ms, RSS/conn with V8 defaults ≤ 1.5×)');
  for (const { target, baseline } of TARGETS) {
    const result = byTarget.get(target);
    const base = baseline && byTarget.get(baseline);
    if (!result || !base) continue;
    console.log(
      `${target} vs ${baseline}: steady throughput ${ratio(result.steady.perSecond, base.steady.perSecond)}, ` +
        `burst throughput ${ratio(result.burst.perSecond, base.burst.perSecond)}, steady p99 ${result.steady.received.p99.toFixed(1)} ms, ` +
        `server CPU/msg ${ratio(result.steady.cpuPerMessage, base.steady.cpuPerMessage)}, ` +
        `RSS/conn with V8 defaults ${ratio(result.memory.rss, base.memory.rss)}, heap/conn ${ratio(result.memory.heap, base.memory.heap)}, ` +
        `RSS/conn with a fixed young generation ${ratio(result.fixedYoung.rss, base.fixedYoung.rss)}`,
    );
  }
  console.log(`\n${JSON.stringify({ bench: 'realtime', clients: CLIENTS, rate: RATE, seconds: SECONDS, burst: BURST, results })}`);
}

const only = process.env.BENCH_ONLY?.split(',');
const results: Result[] = [];
for (const target of TARGETS) {
  if (only && !only.includes(target.target)) continue;
  console.error(`measuring ${target.target}…`);
  results.push(await measure(target));
}
report(results);
