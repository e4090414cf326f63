import WebSocket from 'ws';
import { eventually, type Harness } from '../helpers/pombo-harness.ts';

export interface Frame {
  id: string;
  type: string;
  instance_id: string;
  created_at: string;
  data: any;
}

/** A raw `ws` client of `/events/ws` that records every frame and how the socket ended. */
export interface RealtimeClient {
  readonly ws: WebSocket;
  readonly frames: Frame[];
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  ack(id: string, key?: 'event_id' | 'id' | 'eventId'): void;
  /** Waits until `count` frames have arrived in total. */
  waitFrames(count: number, timeoutMs?: number): Promise<Frame[]>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  /** Acks every frame as it arrives. */
  autoAck?: boolean;
}

export function realtimeUrl(base: string, query: Record<string, string | string[]> = {}): string {
  const url = new URL('/events/ws', base.replace(/^http/, 'ws'));
  for (const [name, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, item);
  }
  return url.toString();
}

/** Opens a connection; rejects with `Error('HTTP <status> <body>')` when the handshake is refused. */
export function connect(base: string, options: ConnectOptions = {}): Promise<RealtimeClient> {
  const ws = new WebSocket(realtimeUrl(base, options.query), { headers: options.headers ?? {} });
  const frames: Frame[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const client: RealtimeClient = {
    ws,
    frames,
    closed,
    ack: (id, key = 'event_id') => ws.send(JSON.stringify({ type: 'ack', [key]: id })),
    waitFrames: async (count, timeoutMs = 10_000) => {
      await eventually(() => frames.length >= count, `${count} frames (got ${frames.length})`, timeoutMs);
      return frames;
    },
    async close() {
      if (ws.readyState !== WebSocket.CLOSED) ws.close(1000);
      await closed;
    },
  };
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Frame;
    frames.push(frame);
    if (options.autoAck) client.ack(frame.id);
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk));
      response.on('end', () => reject(Object.assign(new Error(`HTTP ${response.statusCode} ${body}`), { status: response.statusCode, body })));
    });
    ws.once('error', reject);
  });
}

/** Appends `count` MESSAGES_UPSERT events through the ingest API; returns their ids in order. */
export async function ingest(pombo: Harness, instance: string, count: number, event = 'MESSAGES_UPSERT'): Promise<string[]> {
  const events = Array.from({ length: count }, (_, n) => ({ event, data: { key: { remoteJid: `${n}@s.whatsapp.net`, fromMe: false, id: `m${n}` }, n } }));
  const response = await pombo.api('POST', `/events/${instance}`, { events });
  if (response.status !== 201) throw new Error(`ingest: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.events.map((event: { id: string }) => event.id);
}
