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

/** What a client reads of each event: when it was emitted, and its number (`messageTimestamp` grows with it). */
interface Stamp {
  sentAt: number;
  messageTimestamp: number;
}

/** Calls `receive` with each event's stamp and the client's index; resolves once connected, with how to close the client. */
type Connect = (endpoint: Endpoint, index: number, receive: (stamp: Stamp, client: number) => void) => Promise<Close>;
type Close = () => Promise<unknown> | void;

const socketio: Connect = (endpoint, index, receive) =>
  new Promise((resolve, reject) => {
    // Seed 002's client code, in the instance's namespace.
    const socket: Socket = io(`${endpoint.url}/${endpoint.instance}`, { transports: ['websocket'], auth: { apikey: endpoint.apiKey }, reconnection: false });
    socket.on('messages.upsert', (envelope: { data: Stamp }) => receive(envelope.data, index));
    socket.once('connect', () => resolve(() => void socket.disconnect()));
    socket.once('connect_error', reject);
  });

const sdk = (): Connect => {
  let client: PomboClient | undefined;
  return async (endpoint, index, receive) => {
    client ??= new PomboClient({ baseUrl: endpoint.url, apiKey: endpoint.apiKey });
    // A subscriber name per client: every client gets every event, as a broadcast does.
    const subscription = await client.events.subscribe({ instanceId: endpoint.instance, subscriber: `bench-${index}`, events: ['Message'] });
    subscription.on('Message', (event) => receive((event.data as { data: Stamp }).data, index));
    return () => subscription.close();
  };
};

const plainWs: Connect = (endpoint, index, receive) =>
  new Promise((resolve, reject) => {
    const socket = new WebSocket(endpoint.url.replace(/^http/, 'ws'));
    socket.on('message', (data) => receive((JSON.parse(data.toString()) as { data: { data: Stamp } }).data.data, index));
    socket.once('open', () => resolve(() => socket.close()));
    socket.once('error', reject);
  });

const latencies: number[] = [];
let messages = 0;
let firstAt = 0;
let lastAt = 0;
let clients = 0;
/** Per client, the newest event number it got in this phase; an event not newer is a repeat (events come in order). */
const newest: number[] = [];
let repeats = 0;
const closers: Close[] = [];

function receive({ sentAt, messageTimestamp }: Stamp, client: number): void {
  const at = now();
  if (messageTimestamp <= (newest[client] ?? Number.NEGATIVE_INFINITY)) repeats++;
  else newest[client] = messageTimestamp;
  if (messages === 0) firstAt = at;
  lastAt = at;
  messages++;
  latencies.push(at - sentAt);
}

async function connectAll(kind: ClientKind, endpoint: Endpoint, count: number): Promise<void> {
  const connect: Connect = kind === 'socketio' ? socketio : kind === 'sdk' ? sdk() : plainWs;
  // Added to those connected already: their indexes (subscriber names) follow on.
  const first = clients;
  clients += count;
  for (let start = 0; start < count; start += CONNECT_BATCH) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, count - start) }, (_, i) => connect(endpoint, first + start + i, receive));
    closers.push(...(await Promise.all(batch)));
  }
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;

async function expect(count: number, timeoutMs: number, of = clients): Promise<void> {
  messages = 0;
  repeats = 0;
  newest.length = 0;
  latencies.length = 0;
  const expected = count * of;
  const deadline = Date.now() + timeoutMs;
  while (messages - repeats < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const sorted = latencies.sort((a, b) => a - b);
  reply({ type: 'received', received: { messages, repeats, expected, firstAt, lastAt, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN } });
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
