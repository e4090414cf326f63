/**
 * Realtime at saturation: the offered load is raised step by step (events per second to every
 * connected client, ×BENCH_FACTOR per step) until delivery falls behind, for Pombo's `/events/ws`
 * (SDK subscribers, every event acknowledged), a bare `ws` server and a bare socket.io server (Pombo's
 * Socket.IO endpoint too, if named in BENCH_ONLY). A step is behind when fewer than all its messages
 * arrived, when messages were delivered at less than (1 − BENCH_MARGIN) of the offered rate, or when
 * their p99 latency passed BENCH_P99_MS, and again when the step is run a second time (one stall of a
 * shared machine is not saturation). For each server: the highest step it kept up with, and
 * delivered messages per second of the server's own CPU time (user + system: msgs/s per core).
 *
 *   node --import tsx bench/realtime-saturation.ts
 *     (BENCH_CLIENTS=100 BENCH_START_RATE=100 BENCH_FACTOR=1.5 BENCH_STEPS=10 BENCH_STEP_SECONDS=2
 *      BENCH_MARGIN=0.1 BENCH_P99_MS=250 BENCH_ONLY=pombo-ws,bare-ws,bare-socketio)
 *
 * Events are offered in ticks of 10 ms, those due in a tick as one batch (Pombo: one append, as one
 * `/ingest` batch; the bare servers: one send per event), so that Pombo's durable append is not paid
 * once per event. Server and clients run in processes of their own (`realtime/processes.ts`); the
 * clients share one process, so a server that stays well under one core when it falls behind was
 * limited by its clients (on 2 cores the clients cost several times what a server does per message):
 * the server-cores column says which, and msgs/s per core, compared at the same offered load, is the
 * server's own figure either way.
 */
import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { child, stop } from './realtime/processes.ts';
import type { ClientKind, ClientReply, Received, ServerKind, ServerReply, Target } from './realtime/protocol.ts';
import { ask, serverCpu } from './realtime/protocol.ts';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 100);
const START_RATE = Number(process.env.BENCH_START_RATE ?? 100);
const FACTOR = Number(process.env.BENCH_FACTOR ?? 1.5);
const STEPS = Number(process.env.BENCH_STEPS ?? 10);
const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 2);
const MARGIN = Number(process.env.BENCH_MARGIN ?? 0.1);
const P99_MS = Number(process.env.BENCH_P99_MS ?? 250);
const TICK_MS = 10;
const WARMUP = 20;
/** How long a step may take past its offered duration before its missing messages count as lost. */
const GRACE_MS = 5_000;
const ARM_MS = 100;

const TARGETS: ReadonlyArray<{ target: Target; server: ServerKind; client: ClientKind }> = [
  { target: 'bare-ws', server: 'bare-ws', client: 'ws' },
  { target: 'pombo-ws', server: 'pombo', client: 'sdk' },
  { target: 'bare-socketio', server: 'bare-socketio', client: 'socketio' },
  { target: 'pombo-socketio', server: 'pombo', client: 'socketio' },
];
const DEFAULT_TARGETS: readonly Target[] = ['bare-ws', 'pombo-ws', 'bare-socketio'];

interface Step {
  /** Events per second offered to each client. */
  rate: number;
  /** Messages per second offered in all (rate × clients). */
  offered: number;
  received: Received;
  /** Messages delivered once each per second, from the step's first emit to its last message. */
  delivered: number;
  /** Server CPU seconds per wall-clock second over the step (1.0: one core busy). */
  serverCores: number;
  /** Messages delivered per second of server CPU time. */
  perCore: number;
  behind: string | undefined;
}

interface Result {
  target: Target;
  steps: Step[];
  /** The highest step delivered in full, on time and at the offered rate. */
  kept?: Step;
  /** The first step that fell behind. */
  fell?: Step;
}

async function step(server: ChildProcess, clients: ChildProcess, rate: number): Promise<Step> {
  const count = Math.round(rate * STEP_SECONDS);
  const cpuBefore = await serverCpu(server);
  const received = ask<Extract<ClientReply, { type: 'received' }>>(clients, { type: 'expect', count, timeoutMs: STEP_SECONDS * 1000 + GRACE_MS }, 'received');
  // The clients reset their counts on `expect`; the first frames must not reach them before it does.
  await new Promise((resolve) => setTimeout(resolve, ARM_MS));
  const sent = await ask<Extract<ServerReply, { type: 'sent' }>>(server, { type: 'offer', count, rate, tickMs: TICK_MS }, 'sent');
  const result = (await received).received;
  const cpuSeconds = ((await serverCpu(server)) - cpuBefore) / 1e6;
  const unique = result.messages - result.repeats;
  const seconds = (result.lastAt - sent.firstAt) / 1000;
  const offered = rate * CLIENTS;
  const delivered = unique / seconds;
  const behind =
    unique < result.expected
      ? `${result.expected - unique} of ${result.expected} not delivered within ${STEP_SECONDS * 1000 + GRACE_MS} ms`
      : delivered < (1 - MARGIN) * offered
        ? `delivered ${Math.round(delivered)} < ${Math.round((1 - MARGIN) * offered)} msgs/s`
        : result.p99 > P99_MS
          ? `p99 ${result.p99.toFixed(0)} ms > ${P99_MS} ms`
          : undefined;
  return { rate, offered, received: result, delivered, serverCores: cpuSeconds / seconds, perCore: unique / cpuSeconds, behind };
}

async function measure(target: (typeof TARGETS)[number]): Promise<Result> {
  const server = child('./server-process.ts');
  const clients = child('./client-process.ts');
  const steps: Step[] = [];
  try {
    const { endpoint } = await ask<Extract<ServerReply, { type: 'ready' }>>(server, { type: 'start', kind: target.server }, 'ready');
    await ask<Extract<ClientReply, { type: 'connected' }>>(clients, { type: 'connect', kind: target.client, endpoint, clients: CLIENTS }, 'connected');
    // Cold code paths first, unmeasured.
    const warmup = ask<Extract<ClientReply, { type: 'received' }>>(clients, { type: 'expect', count: WARMUP, timeoutMs: 30_000 }, 'received');
    await ask(server, { type: 'offer', count: WARMUP, rate: START_RATE, tickMs: TICK_MS }, 'sent');
    await warmup;
    for (let index = 0, rate = START_RATE; index < STEPS; index++, rate = Math.round(rate * FACTOR)) {
      let measured = await step(server, clients, rate);
      // A shared machine stalls a process now and then: a step is behind only if it is behind twice.
      if (measured.behind) {
        console.error(`  ${target.target} ${rate} events/s × ${CLIENTS}: behind once (${measured.behind}), measured again`);
        await new Promise((resolve) => setTimeout(resolve, 1000)); // the late messages of the first try arrive first
        measured = await step(server, clients, rate);
      }
      steps.push(measured);
      console.error(
        `  ${target.target} ${rate} events/s × ${CLIENTS}: delivered ${Math.round(measured.delivered)} of ${measured.offered} msgs/s, p99 ${measured.received.p99.toFixed(0)} ms, ` +
          `server ${measured.serverCores.toFixed(2)} cores, ${Math.round(measured.perCore)} msgs per CPU-second${measured.behind ? ` — behind: ${measured.behind}` : ''}`,
      );
      if (measured.behind) break;
    }
  } finally {
    await Promise.all([stop(server), stop(clients)]);
  }
  const fell = steps.find((s) => s.behind);
  const kept = steps.filter((s) => !s.behind).at(-1);
  return { target: target.target, steps, kept, fell };
}

const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
const n = (value: number | undefined) => (value === undefined ? '–' : Math.round(value).toLocaleString('en-US'));
const ratio = (value: number | undefined, base: number | undefined) => (value && base ? (value / base).toFixed(2) : 'n/a');

function report(results: Result[]): void {
  console.log(
    `\nrealtime at saturation: ${CLIENTS} clients, from ${START_RATE} events/s ×${FACTOR} per ${STEP_SECONDS} s step; behind: not all delivered, ` +
      `delivered < ${1 - MARGIN} of offered, or p99 > ${P99_MS} ms; ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}\n`,
  );
  console.log(row(['target', 'kept up to, msgs/s offered', 'delivered msgs/s', 'p99 ms', 'server cores', 'msgs/s per core', 'fell behind at, msgs/s offered', 'delivered msgs/s', 'server cores', 'msgs/s per core', 'why']));
  console.log(row(Array(11).fill('---')));
  for (const { target, kept, fell } of results) {
    console.log(
      row([
        target,
        n(kept?.offered),
        n(kept?.delivered),
        kept ? kept.received.p99.toFixed(0) : '–',
        kept ? kept.serverCores.toFixed(2) : '–',
        n(kept?.perCore),
        fell ? n(fell.offered) : `not reached (${n(results.find((r) => r.target === target)?.steps.at(-1)?.offered)})`,
        n(fell?.delivered),
        fell ? fell.serverCores.toFixed(2) : '–',
        n(fell?.perCore),
        fell?.behind ?? '',
      ]),
    );
  }
  const byTarget = new Map(results.map((result) => [result.target, result]));
  // Per core at the busiest step measured (the first behind, else the last kept): the server's cost per message when it is loaded most.
  const busiest = (target: Target) => {
    const result = byTarget.get(target);
    return result?.fell ?? result?.kept;
  };
  // Per core at the highest offered load both kept up with: the same work, since fixed costs shrink per message as the load grows.
  const sameLoad = (target: Target, other: Target) => {
    const rate = Math.min(byTarget.get(target)?.kept?.rate ?? 0, byTarget.get(other)?.kept?.rate ?? 0);
    return byTarget.get(target)?.steps.find((s) => s.rate === rate);
  };
  console.log('\nratios (Pombo / bare): highest offered load kept up with; msgs/s per core at the busiest step; msgs/s per core at the highest load both kept up with');
  for (const [pombo, bare] of [
    ['pombo-ws', 'bare-ws'],
    ['pombo-ws', 'bare-socketio'],
    ['pombo-socketio', 'bare-socketio'],
  ] as const) {
    if (!byTarget.has(pombo) || !byTarget.has(bare)) continue;
    console.log(
      `${pombo} vs ${bare}: kept up with ${ratio(byTarget.get(pombo)?.kept?.offered, byTarget.get(bare)?.kept?.offered)}, ` +
        `msgs/s per core ${ratio(busiest(pombo)?.perCore, busiest(bare)?.perCore)}; ` +
        `at ${n(sameLoad(pombo, bare)?.offered)} msgs/s offered ${ratio(sameLoad(pombo, bare)?.perCore, sameLoad(bare, pombo)?.perCore)}`,
    );
  }
  console.log(`\n${JSON.stringify({ bench: 'realtime-saturation', clients: CLIENTS, startRate: START_RATE, factor: FACTOR, stepSeconds: STEP_SECONDS, margin: MARGIN, p99Ms: P99_MS, results })}`);
}

const only = process.env.BENCH_ONLY?.split(',') ?? DEFAULT_TARGETS;
const results: Result[] = [];
for (const target of TARGETS) {
  if (!only.includes(target.target)) continue;
  console.error(`measuring ${target.target}…`);
  results.push(await measure(target));
}
report(results);
