import type { FastifyReply } from 'fastify';
import type { AppContext } from '../app-context.ts';
import type { StoredEvent } from '../store/types.ts';
import { eventRow } from './fragments/event-row.ts';

/** Events of the log sent first, so that the stream does not start empty. */
const RECENT = 20;
const PING_MS = 15_000;

/** One server-sent event `logged` carrying the event's table row (each line of it as a `data:` line). */
const frameOf = (event: StoredEvent): string =>
  `id: ${event.pos}\nevent: logged\n${eventRow(event)
    .text.split('\n')
    .map((line) => `data: ${line}\n`)
    .join('')}\n`;

/**
 * The live event stream of the manager, as server-sent events: the recent events of the log, then
 * each event as the log commits it (the log's own notifications: what the stream shows is what was
 * stored). A client too slow to take them misses events rather than growing the server's memory.
 * The stream ends when the session does (`alive`, checked at each ping).
 */
export async function streamEvents(context: AppContext, reply: FastifyReply, alive: () => boolean): Promise<void> {
  const { store } = context;
  reply.hijack();
  const response = reply.raw;
  response.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  let sentThrough = 0;
  let backlog: StoredEvent[] | undefined = [];
  const send = (event: StoredEvent): void => {
    if (event.pos <= sentThrough || response.writableNeedDrain) return;
    sentThrough = event.pos;
    response.write(frameOf(event));
  };
  // Subscribed before the read of the recent events, so that nothing falls in between.
  const unsubscribe = store.onAppend((events) => {
    if (backlog) backlog.push(...events);
    else for (const event of events) send(event);
  });
  const ping = setInterval(() => (alive() ? response.write(': ping\n\n') : response.end()), PING_MS);
  ping.unref();
  const close = (): void => {
    unsubscribe();
    clearInterval(ping);
  };
  response.once('close', close);
  try {
    const head = await store.headPosition();
    for (const event of await store.read({ afterPos: Math.max(0, head - RECENT), untilPos: head, limit: RECENT })) send(event);
  } finally {
    for (const event of backlog) send(event);
    backlog = undefined;
  }
  response.write(': live\n\n');
}
