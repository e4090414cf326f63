/**
 * The benchmark's webhook receiver, in its own thread so it never shares an event loop with the
 * sender: an HTTP server that answers 200 at once (or 500 for a share of requests), and measures each
 * event's latency from the `t` its producer put in `data` (ms since epoch, sub-ms).
 *
 * Two servers (`workerData.server`): `http`, node:http (about 40 µs of CPU per request here); and
 * `lean`, HTTP/1.1 read straight off the socket (requests with a Content-Length, as every webhook
 * sender here makes them; anything else closes the connection, so a sender that sends otherwise
 * fails the benchmark instead of passing it), for benchmarks whose senders share the machine's cores
 * with the receiver, where it stands for a server on another machine.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';

export type ReceiverServer = 'http' | 'lean';

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

/** One request's body: answers whether it was accepted (200) or refused (500), and counts its event. */
function receive(body: Buffer): boolean {
  stats.requests++;
  if (Math.random() < failRate) {
    stats.failed++;
    return false;
  }
  const payload = JSON.parse(body.toString('utf8')) as { id: string; data: { t: number } };
  stats.accepted++;
  if (seen.has(payload.id)) return true;
  seen.add(payload.id);
  stats.unique++;
  stats.latenciesMs.push(now() - payload.data.t);
  if (stats.unique === expected) parentPort?.postMessage({ type: 'done', at: now() } satisfies ReceiverMessage);
  return true;
}

function httpServer(): Server {
  return createHttpServer({ keepAliveTimeout: 60_000 }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (receive(Buffer.concat(chunks))) response.writeHead(200).end('ok');
      else response.writeHead(500).end('try again');
    });
  });
}

const OK = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
const REFUSED = Buffer.from('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 9\r\n\r\ntry again');
const HEAD_END = Buffer.from('\r\n\r\n');

function leanServer(): Server {
  return createTcpServer({ noDelay: true }, (socket) => {
    let pending: Buffer = Buffer.alloc(0);
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const headEnd = pending.indexOf(HEAD_END);
        if (headEnd < 0) return;
        const length = /\r\ncontent-length: *(\d+)/i.exec(pending.toString('latin1', 0, headEnd))?.[1];
        if (length === undefined) return void socket.destroy();
        const end = headEnd + HEAD_END.length + Number(length);
        if (pending.length < end) return;
        const body = pending.subarray(headEnd + HEAD_END.length, end);
        pending = pending.subarray(end);
        socket.write(receive(body) ? OK : REFUSED);
      }
    });
  });
}

const server = (workerData as { server?: ReceiverServer } | undefined)?.server === 'lean' ? leanServer() : httpServer();

server.listen(0, '127.0.0.1', () => {
  parentPort?.postMessage({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies ReceiverMessage);
});

parentPort?.on('message', (command: ReceiverCommand) => {
  if (command.type === 'reset') reset(command);
  else parentPort?.postMessage({ type: 'stats', ...stats } satisfies ReceiverMessage);
});
