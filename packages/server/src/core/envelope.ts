import { eventName } from './event-names.ts';
import type { StoredEvent } from '../store/types.ts';

/**
 * The payload every channel sends: Evolution API's envelope plus the event's `id`, and the members an
 * event adds beside `data` (a history sync's `isLatest` and `progress`), first, where Evolution puts them.
 */
export interface Envelope {
  isLatest?: boolean;
  progress?: number | null;
  id: string;
  event: string;
  instance: string;
  data: unknown;
  destination?: string;
  date_time: string;
  sender: string | null;
  server_url: string;
  apikey: string | null;
}

export interface EnvelopeContext {
  serverUrl: string;
  /** The instance token when the operator opted in to exposing it (AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES), else null. */
  apikeyOf(instanceId: string): string | null;
}

/**
 * The envelope members an event may carry beside `data`, as Evolution API 2.3.7 sends them on
 * `messages.set` (`isLatest`: the last chunk of a history sync; `progress`: how far it is, 0 to 100).
 */
const ENVELOPE_EXTRAS = ['isLatest', 'progress'] as const;

/** The extras a producer's payload carries (only ENVELOPE_EXTRAS), or undefined when it has none. */
export function extrasOf(payload: Readonly<Record<string, unknown>>): Record<string, unknown> | undefined {
  const extras = Object.fromEntries(ENVELOPE_EXTRAS.filter((name) => payload[name] !== undefined).map((name) => [name, payload[name]]));
  return Object.keys(extras).length ? extras : undefined;
}

const extrasJson = (event: StoredEvent): Record<string, unknown> => (event.extraJson ? (JSON.parse(event.extraJson) as Record<string, unknown>) : {});

export function envelopeOf(event: StoredEvent, context: EnvelopeContext, destination?: string): Envelope {
  return {
    ...extrasJson(event),
    id: event.id,
    event: eventName(event.event).dotted,
    instance: event.instance,
    data: event.data,
    ...(destination === undefined ? {} : { destination }),
    date_time: event.createdAt,
    sender: event.sender,
    server_url: context.serverUrl,
    apikey: context.apikeyOf(event.instanceId),
  };
}

const json = JSON.stringify;

/**
 * The envelope as JSON text, equal to `JSON.stringify(envelopeOf(…))` but built around the event's
 * stored data text: channels send it without parsing `data` and serializing it again, which was most
 * of their cost per event.
 */
export function envelopeJson(event: StoredEvent, context: EnvelopeContext, destination?: string): string {
  const to = destination === undefined ? '' : `,"destination":${json(destination)}`;
  // The extras' members go first, as Evolution spreads them before its own fields.
  const extras = event.extraJson && event.extraJson !== '{}' ? `${event.extraJson.slice(1, -1)},` : '';
  return (
    `{${extras}"id":${json(event.id)},"event":"${eventName(event.event).dotted}","instance":${json(event.instance)},"data":${event.dataJson}${to}` +
    `,"date_time":"${event.createdAt}","sender":${json(event.sender)},"server_url":${json(context.serverUrl)},"apikey":${json(context.apikeyOf(event.instanceId))}}`
  );
}

/** Adds members at the end of a JSON object's text (Kafka's `timestamp`, SQS's `dataType`), without parsing it. */
export function withFields(objectJson: string, fields: Readonly<Record<string, unknown>>): string {
  let members = '';
  for (const name in fields) members += `,${json(name)}:${json(fields[name])}`;
  return objectJson === '{}' ? `{${members.slice(1)}}` : `${objectJson.slice(0, -1)}${members}}`;
}
