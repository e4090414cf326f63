/**
 * The benchmark's webhook receiver, in its own thread so it never shares an event loop with the
 * sender: a node:http server that answers 200 at once (or 500 for a share of requests), and
 * measures each event's latency from the `t` its producer put in `data` (ms since epoch, sub-ms).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';

export type ReceiverCommand = { type: 'reset'; expected: number; failRate: number } | { type: 'stats' };

export interface ReceiverStats {
  requests: number;
  failed: number;
  /** Accepted requests, duplicates included. */
  accepted: number;
  unique: number;
  /** Append (or send) → first acceptance, per event, in ms. */
  latenciesMs: number[];
}

export type ReceiverMessage = { type: 'listening'; port: number } | { type: 'done'; at: number } | ({ type: 'stats' } & ReceiverStats);

const now = (): number => performance.timeOrigin + performance.now();
let expected = 0;
let failRate = 0;
let stats: ReceiverStats;
let seen = new Set<string>();

function reset(command: { expected: number; failRate: number }): void {
  expected = command.expected;
  failRate = command.failRate;
  seen = new Set();
  stats = { requests: 0, failed: 0, accepted: 0, unique: 0, latenciesMs: [] };
}

reset({ expected: 0, failRate: 0 });

const server = createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    stats.requests++;
    if (Math.random() < failRate) {
      stats.failed++;
      response.writeHead(500).end('try again');
      return;
    }
    response.writeHead(200).end('ok');
    const payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; data: { t: number } };
    stats.accepted++;
    if (seen.has(payload.id)) return;
    seen.add(payload.id);
    stats.unique++;
    stats.latenciesMs.push(now() - payload.data.t);
    if (stats.unique === expected) parentPort?.postMessage({ type: 'done', at: now() } satisfies ReceiverMessage);
  });
});

server.listen(0, '127.0.0.1', () => {
  parentPort?.postMessage({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies ReceiverMessage);
});

parentPort?.on('message', (command: ReceiverCommand) => {
  if (command.type === 'reset') reset(command);
  else parentPort?.postMessage({ type: 'stats', ...stats } satisfies ReceiverMessage);
});
