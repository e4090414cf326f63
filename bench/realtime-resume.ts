/**
 * Realtime resume: clients that were away come back to a backlog. 500 clients connect, take 10
 * events and disconnect; 2,000 events are emitted while they are away; then all reconnect at once.
 * Pombo's `/events/ws` (with the SDK: each subscriber resumes from its durable ack floor, reads the
 * log and acks every event) against, in the same run, a bare `ws` server that sends the same frames
 * to every new connection (no log, no cursor, no acks, a plain `ws` client). Reports the delivered
 * messages per second from the reconnect to the last message, and the server CPU per message.
 *
 *   node --import tsx bench/realtime-resume.ts     (BENCH_CLIENTS=500 BENCH_BACKLOG=2000)
 *
 * Processes as in `bench/realtime.ts`: the server alone in one, the clients in another.
 */
import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { child, stop } from './realtime/processes.ts';
import type { ClientKind, ClientReply, Received, ServerKind, ServerReply } from './realtime/protocol.ts';
import { ask, deliveredOf, now, serverCpu } from './realtime/protocol.ts';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 500);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 2000);
const WARMUP = 10;

const TARGETS: ReadonlyArray<{ target: string; server: ServerKind; client: ClientKind }> = [
  { target: 'bare-ws', server: 'bare-ws', client: 'ws' },
  { target: 'pombo-ws', server: 'pombo', client: 'sdk' },
];

interface Result {
  target: string;
  received: Received;
  /** Messages delivered per second, from the reconnect to the last message. */
  perSecond: number;
  /** Server CPU time per delivered message (µs). */
  cpuPerMessage: number;
}

const expect = (clients: ChildProcess, count: number, of?: number) =>
  ask<Extract<ClientReply, { type: 'received' }>>(clients, { type: 'expect', count, timeoutMs: 300_000, clients: of }, 'received');

async function measure({ target, server: serverKind, client }: (typeof TARGETS)[number]): Promise<Result> {
  const server = child('./server-process.ts');
  const clients = child('./client-process.ts');
  try {
    const { endpoint } = await ask<Extract<ServerReply, { type: 'ready' }>>(server, { type: 'start', kind: serverKind }, 'ready');
    const connect = () => ask<Extract<ClientReply, { type: 'connected' }>>(clients, { type: 'connect', kind: client, endpoint, clients: CLIENTS }, 'connected');
    await connect();
    // Every client takes (and acks) a few events, so that each subscriber has a position.
    const warm = expect(clients, WARMUP);
    await ask(server, { type: 'broadcast', count: WARMUP, rate: 0 }, 'sent');
    await warm;
    await ask(clients, { type: 'disconnect' }, 'disconnected');
    await ask(server, { type: 'backlog', count: BACKLOG }, 'backlogged');
    const cpuBefore = await serverCpu(server);
    // Counted from before the reconnect: the backlog flows as soon as a client is connected.
    const received = expect(clients, BACKLOG, CLIENTS);
    const startedAt = now();
    await connect();
    const result = (await received).received;
    const unique = result.messages - result.repeats;
    // The server's last acks arrive after the last message: they count too.
    await new Promise((resolve) => setTimeout(resolve, 500));
    return {
      target,
      received: result,
      perSecond: unique / ((result.lastAt - startedAt) / 1000),
      cpuPerMessage: ((await serverCpu(server)) - cpuBefore) / unique,
    };
  } finally {
    await Promise.all([stop(server), stop(clients)]);
  }
}

const results: Result[] = [];
for (const target of TARGETS) {
  console.error(`measuring ${target.target}…`);
  results.push(await measure(target));
}
console.log(`\nrealtime resume: ${CLIENTS} clients reconnect to a backlog of ${BACKLOG} events; ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}\n`);
console.log('| target | delivered | msgs/s | server CPU µs/msg |');
console.log('| --- | --- | --- | --- |');
for (const { target, received, perSecond, cpuPerMessage } of results) {
  console.log(`| ${target} | ${deliveredOf(received)} | ${perSecond.toFixed(0)} | ${cpuPerMessage.toFixed(1)} |`);
}
const [bare, pombo] = results;
if (bare && pombo) {
  console.log(`\npombo-ws / bare-ws: throughput ${(pombo.perSecond / bare.perSecond).toFixed(2)}, server CPU/msg ${(pombo.cpuPerMessage / bare.cpuPerMessage).toFixed(2)}`);
}
console.log(`\n${JSON.stringify({ bench: 'realtime-resume', clients: CLIENTS, backlog: BACKLOG, results })}`);
