/**
 * One server of the realtime benchmark, alone in its process so that its memory is its own: Pombo
 * (events appended by an in-process source, as the sandbox does) or a bare ws / socket.io server
 * broadcasting the same payloads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocketServer } from 'ws';
import { loadConfig } from '../../packages/server/src/config/index.ts';
import { newEventId } from '../../packages/server/src/core/ids.ts';
import { createLogger } from '../../packages/server/src/ops/logger.ts';
import { createPombo } from '../../packages/server/src/pombo.ts';
import type { Endpoint, ServerKind, ServerReply, ServerRequest } from './protocol.ts';
import { now, stampedMessage } from './protocol.ts';

const INSTANCE = 'bench';
const API_KEY = 'bench-realtime-key-0123456789';

/** Emits one event; resolves when the server has taken it (Pombo: appended durably). */
type Emit = (n: number) => Promise<void> | void;

interface Running {
  endpoint: Endpoint;
  emit: Emit;
  /** Emits events `from`..`from + count - 1` at once (Pombo: one append, as a batch from `/ingest` is). */
  emitBatch(from: number, count: number): Promise<void> | void;
  /** Events for clients that connect later (see the `backlog` request); unset where not measured. */
  backlog?(count: number): Promise<void>;
}

const reply = (message: ServerReply) => process.send?.(message);

async function listen(server: HttpServer): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The envelope Pombo sends for the same event (webhook payload, Socket.IO payload, realtime `data`). */
const envelope = (n: number) => {
  const id = newEventId();
  return {
    id,
    event: 'messages.upsert',
    instance: INSTANCE,
    data: stampedMessage(n, now()),
    date_time: new Date().toISOString(),
    sender: null,
    server_url: 'http://localhost:8080',
    apikey: null,
  };
};

async function startPombo(): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-bench-realtime-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const config = loadConfig(
    // One subscriber name per SDK client: thousands, past the default limit of 100 names per instance.
    { AUTHENTICATION_API_KEY: API_KEY, DATA_DIR: dir, LOG_LEVEL: 'warn', REALTIME_MAX_SUBSCRIBERS: '100000' },
    dir,
  );
  const pombo = await createPombo(config, createLogger('warn'));
  const url = (await pombo.listen(0)).replace('0.0.0.0', '127.0.0.1');
  const instance = await pombo.context.instances.create({
    instanceName: INSTANCE,
    integration: 'INGEST',
    channels: { websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } },
  });
  const emit = async (n: number) => {
    await pombo.context.instances.emit(instance, { event: 'MESSAGES_UPSERT', data: stampedMessage(n, now()) });
  };
  const emitBatch = async (from: number, count: number) => {
    const sentAt = now();
    const emits = Array.from({ length: count }, (_, i) => ({ event: 'MESSAGES_UPSERT' as const, data: stampedMessage(from + i, sentAt) }));
    await pombo.context.instances.emitMany(instance, emits, 'bench');
  };
  return {
    endpoint: { url, apiKey: API_KEY, instance: INSTANCE },
    emit,
    emitBatch,
    // Appended while no client is connected: each subscriber resumes from its ack floor.
    backlog: async (count) => {
      for (let n = 0; n < count; n++) await emit(n);
    },
  };
}

async function startBareWs(): Promise<Running> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  const url = await listen(server);
  // Each event's payload is encoded once, as a broadcast loop should, and sent as a text frame.
  const payloadOf = (n: number) => {
    const data = envelope(n);
    return Buffer.from(JSON.stringify({ id: data.id, type: 'Message', instance_id: INSTANCE, created_at: data.date_time, data }));
  };
  const TEXT = { binary: false };
  // Frames every new connection gets at once: what a server with no log, cursor or acks does for a backlog.
  let backlog: Buffer[] = [];
  wss.on('connection', (ws) => {
    for (const payload of backlog) ws.send(payload, TEXT);
  });
  const emit = (n: number) => {
    const payload = payloadOf(n);
    for (const client of wss.clients) client.send(payload, TEXT);
  };
  return {
    endpoint: { url, apiKey: API_KEY, instance: INSTANCE },
    emit,
    emitBatch: (from, count) => {
      for (let n = from; n < from + count; n++) emit(n);
    },
    backlog: async (count) => {
      backlog = Array.from({ length: count }, (_, n) => payloadOf(n));
    },
  };
}

async function startBareSocketIo(): Promise<Running> {
  const server = createServer();
  const io = new SocketIoServer(server, { serveClient: false });
  const url = await listen(server);
  const namespace = io.of(`/${INSTANCE}`);
  const emit = (n: number) => void namespace.emit('messages.upsert', envelope(n));
  return {
    endpoint: { url, apiKey: API_KEY, instance: INSTANCE },
    emit,
    emitBatch: (from, count) => {
      for (let n = from; n < from + count; n++) emit(n);
    },
  };
}

const STARTERS: Record<ServerKind, () => Promise<Running>> = {
  pombo: startPombo,
  'bare-ws': startBareWs,
  'bare-socketio': startBareSocketIo,
};

async function broadcast(emit: Emit, count: number, rate: number): Promise<void> {
  const firstAt = now();
  for (let n = 0; n < count; n++) {
    if (rate > 0) {
      const due = firstAt + (n * 1000) / rate;
      if (due > now()) await new Promise((resolve) => setTimeout(resolve, due - now()));
    }
    await emit(n);
  }
  reply({ type: 'sent', firstAt, lastAt: now() });
}

/**
 * Emits `count` events at `rate` per second in ticks of `tickMs`: each tick emits, as one batch, the
 * events that fell due since the last, so a slow emit is followed by a larger batch and the offered
 * rate holds for as long as the server can take it.
 */
async function offer(running: Running, count: number, rate: number, tickMs: number): Promise<void> {
  const firstAt = now();
  for (let n = 0; n < count; ) {
    const due = Math.min(count, Math.floor(((now() - firstAt) / 1000) * rate) + 1);
    if (due > n) {
      await running.emitBatch(n, due - n);
      n = due;
    }
    if (n < count) await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  reply({ type: 'sent', firstAt, lastAt: now() });
}

/**
 * The server's memory once settled. A regular GC leaves committed the pages a burst of allocation
 * touched (a connect wave), so RSS then says more about when the collector ran than about what the
 * connections hold; an idle server returns them by itself within seconds (V8's memory reducer). A
 * last-resort GC does the same at once, alike for every server measured.
 */
function memory(): void {
  for (let i = 0; i < 2; i++) globalThis.gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  const usage = process.memoryUsage();
  const youngGeneration = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.physical_space_size ?? 0;
  reply({ type: 'memory', memory: { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external, youngGeneration } });
}

let running: Running | undefined;
process.on('message', async (request: ServerRequest) => {
  if (request.type === 'start') {
    running = await STARTERS[request.kind]();
    reply({ type: 'ready', endpoint: running.endpoint });
  } else if (request.type === 'memory') memory();
  else if (request.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    reply({ type: 'cpu', micros: user + system });
  }
  else if (request.type === 'backlog') {
    if (!running?.backlog) throw new Error('this server has no backlog to measure');
    await running.backlog(request.count);
    reply({ type: 'backlogged' });
  } else if (request.type === 'offer') {
    if (running) await offer(running, request.count, request.rate, request.tickMs);
  } else if (running) await broadcast(running.emit, request.count, request.rate);
});
process.on('disconnect', () => process.exit(0));
