import { createHash } from 'node:crypto';
import { excerpt, validationError } from '../../core/errors.ts';
import type { Emit } from '../../instances/instance-service.ts';
import { eventKey, object, type Obj } from '../../core/validate.ts';
import { strictObject, type JsonSchema } from '../../core/schemas.ts';
import { extrasOf } from '../../core/envelope.ts';

export const MAX_BATCH = 1000;
/** The longest Idempotency-Key header (and event `id`) kept as a producer id. */
const MAX_KEY = 200;

/*
 * Producer ids (what a retry is recognized by) live in one namespace per source, so that no two
 * sources can make the same string: `id:<the event's id>`, `key:<Idempotency-Key>` for a request of
 * one event, `key[<index>]:<Idempotency-Key>` for the event at that index of a batch, and
 * `sha256:<digest>` for an Evolution payload. (A batch's `k#0` once equalled a single event's `k#0`.)
 */

/** Events whose data Evolution API sends as null. */
const NULL_DATA = new Set(['REMOVE_INSTANCE', 'LOGOUT_INSTANCE']);

export interface IngestItem extends Emit {
  /** The sender JID an Evolution payload carried, if any. */
  sender?: string | undefined;
}

/**
 * One event: Pombo's form `{event, data, id?}` or Evolution API's webhook payload as it is. The
 * schema lists the fields (any other is refused); their values are checked by parseItem, whose
 * messages name the event's place in a batch.
 */
const INGEST_ITEM_SCHEMA: JsonSchema = strictObject({
  event: { description: 'The event name in any form of docs/events.md.', example: 'MESSAGES_UPSERT' },
  data: { description: 'A JSON object or array (null or missing only for LOGOUT_INSTANCE and REMOVE_INSTANCE).' },
  id: { description: "Your producer's id for the event (at most 200 characters): a second event with the same id is a duplicate." },
  instance: { description: "Evolution payloads: the instance's name; it must be the route's." },
  sender: { description: "Evolution payloads: the instance's JID; it becomes the instance's ownerJid." },
  date_time: { description: 'Evolution payloads: ignored (Pombo stamps its own time).' },
  server_url: { description: 'Evolution payloads: ignored.' },
  destination: { description: 'Evolution payloads: ignored.' },
  apikey: { description: 'Evolution payloads: dropped, never stored.' },
  isLatest: { type: 'boolean', description: "A history sync's MESSAGES_SET (Evolution API 2.3.7): true on its last chunk. Kept in the envelope." },
  progress: {
    type: ['number', 'null'],
    minimum: 0,
    maximum: 100,
    description: "A history sync's MESSAGES_SET: how far the sync is, 0 to 100 (or null). Kept in the envelope.",
  },
});

/** One event, a JSON array of them, or `{"events": [...]}`. */
export const INGEST_BODY_SCHEMA: JsonSchema = {
  description: 'One event, a JSON array of up to 1000 events, or {"events": [...]}. A batch is all or nothing.',
  if: { type: 'array' },
  then: { type: 'array', items: INGEST_ITEM_SCHEMA },
  else: {
    if: { type: 'object', required: ['events'] },
    then: strictObject({ events: { type: 'array', items: INGEST_ITEM_SCHEMA } }, ['events']),
    else: INGEST_ITEM_SCHEMA,
  },
};

/** An Evolution API webhook payload, as its webhook sender posts it. */
const isEvolutionPayload = (item: Obj): boolean => 'instance' in item || 'date_time' in item || 'server_url' in item;

/** How the body is checked: the largest `data` of one event, and the body's size when the request gave it. */
export interface IngestLimits {
  maxDataBytes: number;
  /** The body's Content-Length: a body within the limit cannot hold a `data` past it, so none is measured. */
  bodyBytes?: number | undefined;
}

function checkSize(data: unknown, path: string, limits: IngestLimits): void {
  if (limits.bodyBytes !== undefined && limits.bodyBytes <= limits.maxDataBytes) return;
  const bytes = Buffer.byteLength(JSON.stringify(data) ?? '');
  if (bytes > limits.maxDataBytes) {
    throw validationError(`${path}.data is ${bytes} bytes of JSON; an event's data holds at most ${limits.maxDataBytes} (EVENTS_MAX_DATA_BYTES)`);
  }
}

const JID = /^[\w.:-]{1,64}@[\w.-]{1,64}$/;

/**
 * An Evolution payload's `sender`: the instance's own JID (`5511…@s.whatsapp.net`), or nothing. One
 * spelling per number, as it becomes the instance's number (unique on the server): without a device
 * (`5511…:12@…`), the domain in lower case, WhatsApp's old `c.us` as `s.whatsapp.net`.
 */
function senderOf(value: unknown, path: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !JID.test(value)) throw validationError(`${path}.sender must be a JID such as 5511999990000@s.whatsapp.net`);
  const [user = '', domain = ''] = value.split('@');
  const server = domain.toLowerCase();
  return `${user.replace(/:\d+$/, '')}@${server === 'c.us' ? 's.whatsapp.net' : server}`;
}

function parseItem(value: unknown, path: string, instanceName: string, idempotencyKey: string | undefined, limits: IngestLimits): IngestItem {
  const item = object(value, path);
  const event = eventKey(item.event, `${path}.event`, 'event');
  const data = item.data;
  const isStructured = data !== null && typeof data === 'object';
  if (!isStructured && !(data === null && NULL_DATA.has(event)) && !(data === undefined && NULL_DATA.has(event))) {
    throw validationError(`${path}.data must be a JSON object or array`);
  }
  checkSize(data, path, limits);
  if (item.id !== undefined && (typeof item.id !== 'string' || item.id === '' || item.id.length > MAX_KEY)) {
    throw validationError(`${path}.id must be a non-empty string of at most ${MAX_KEY} characters (your producer's id for the event)`);
  }
  const evolution = isEvolutionPayload(item);
  if (evolution && item.instance !== undefined && item.instance !== instanceName) {
    throw validationError(`${path}.instance is "${excerpt(item.instance)}" but the route names "${instanceName}"`);
  }
  // An Evolution sender retries with the very same bytes: the payload's digest makes the retry idempotent.
  const producerId =
    (item.id === undefined ? undefined : `id:${item.id as string}`) ??
    idempotencyKey ??
    (evolution ? `sha256:${createHash('sha256').update(JSON.stringify(item)).digest('hex')}` : undefined);
  return { event, data: data ?? null, producerId, sender: senderOf(item.sender, path), extra: extrasOf(item) };
}

/**
 * Accepts one event (`{event, data, id?}` or an Evolution webhook payload as it is), an array of
 * them, or `{events: [...]}`. Returns the events and whether the body was a batch.
 */
export function parseIngestBody(body: unknown, instanceName: string, limits: IngestLimits, idempotencyKey?: string): { items: IngestItem[]; batch: boolean } {
  const list = Array.isArray(body) ? body : Array.isArray((body as Obj | null)?.events) ? ((body as Obj).events as unknown[]) : undefined;
  if (idempotencyKey !== undefined && (idempotencyKey === '' || idempotencyKey.length > MAX_KEY)) {
    throw validationError(`the Idempotency-Key header must be 1 to ${MAX_KEY} characters`);
  }
  if (!list) return { items: [parseItem(body, 'body', instanceName, idempotencyKey && `key:${idempotencyKey}`, limits)], batch: false };
  if (list.length === 0) throw validationError('the batch is empty: send at least one event');
  if (list.length > MAX_BATCH) throw validationError(`a batch holds at most ${MAX_BATCH} events; got ${list.length} (split it into several requests)`);
  // A batch retried under the same Idempotency-Key gives each event the same derived key as before.
  const items = list.map((item, index) =>
    parseItem(item, `events[${index}]`, instanceName, idempotencyKey && `key[${index}]:${idempotencyKey}`, limits),
  );
  return { items, batch: true };
}
