/**
 * The clients of the realtime benchmark, in their own process so that their work does not run on
 * the server's event loop: the seed's Socket.IO client code, Pombo's SDK, or a plain `ws` client.
 */
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { PomboClient } from '../../packages/sdk/src/index.ts';
import type { ClientKind, ClientReply, ClientRequest, Endpoint } from './protocol.ts';
import { now } from './protocol.ts';

/** Connections opened at once: enough to be quick, few enough not to overflow the accept backlog. */
const CONNECT_BATCH = 100;

/** Calls `receive` with the emit time of each event; resolves once connected, with how to close the client. */
type Connect = (endpoint: Endpoint, index: number, receive: (sentAt: number) => void) => Promise<Close>;
type Close = () => Promise<unknown> | void;

const socketio: Connect = (endpoint, _index, receive) =>
  new Promise((resolve, reject) => {
    // Seed 002's client code, in the instance's namespace.
    const socket: Socket = io(`${endpoint.url}/${endpoint.instance}`, { transports: ['websocket'], auth: { apikey: endpoint.apiKey }, reconnection: false });
    socket.on('messages.upsert', (envelope: { data: { sentAt: number } }) => receive(envelope.data.sentAt));
    socket.once('connect', () => resolve(() => void socket.disconnect()));
    socket.once('connect_error', reject);
  });

const sdk = (): Connect => {
  let client: PomboClient | undefined;
  return async (endpoint, index, receive) => {
    client ??= new PomboClient({ baseUrl: endpoint.url, apiKey: endpoint.apiKey });
    // A subscriber name per client: every client gets every event, as a broadcast does.
    const subscription = await client.events.subscribe({ instanceId: endpoint.instance, subscriber: `bench-${index}`, events: ['Message'] });
    subscription.on('Message', (event) => receive((event.data as { data: { sentAt: number } }).data.sentAt));
    return () => subscription.close();
  };
};

const plainWs: Connect = (endpoint, _index, receive) =>
  new Promise((resolve, reject) => {
    const socket = new WebSocket(endpoint.url.replace(/^http/, 'ws'));
    socket.on('message', (data) => receive((JSON.parse(data.toString()) as { data: { data: { sentAt: number } } }).data.data.sentAt));
    socket.once('open', () => resolve(() => socket.close()));
    socket.once('error', reject);
  });

const latencies: number[] = [];
let messages = 0;
let firstAt = 0;
let lastAt = 0;
let clients = 0;
const closers: Close[] = [];

function receive(sentAt: number): void {
  const at = now();
  if (messages === 0) firstAt = at;
  lastAt = at;
  messages++;
  latencies.push(at - sentAt);
}

async function connectAll(kind: ClientKind, endpoint: Endpoint, count: number): Promise<void> {
  const connect: Connect = kind === 'socketio' ? socketio : kind === 'sdk' ? sdk() : plainWs;
  clients = count;
  for (let start = 0; start < count; start += CONNECT_BATCH) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, count - start) }, (_, i) => connect(endpoint, start + i, receive));
    closers.push(...(await Promise.all(batch)));
  }
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;

async function expect(count: number, timeoutMs: number, of = clients): Promise<void> {
  messages = 0;
  latencies.length = 0;
  const expected = count * of;
  const deadline = Date.now() + timeoutMs;
  while (messages < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const sorted = latencies.sort((a, b) => a - b);
  reply({ type: 'received', received: { messages, expected, firstAt, lastAt, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN } });
}

const reply = (message: ClientReply) => process.send?.(message);

process.on('message', async (request: ClientRequest) => {
  if (request.type === 'connect') {
    const started = now();
    await connectAll(request.kind, request.endpoint, request.clients);
    reply({ type: 'connected', ms: now() - started });
  } else if (request.type === 'disconnect') {
    await Promise.all(closers.splice(0).map((close) => close()));
    clients = 0;
    reply({ type: 'disconnected' });
  } else await expect(request.count, request.timeoutMs, request.clients);
});
process.on('disconnect', () => process.exit(0));
