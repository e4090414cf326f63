import { eventName } from './event-names.ts';
import type { StoredEvent } from '../store/types.ts';

/** The payload every channel sends: Evolution API's envelope plus the event's `id`. */
export interface Envelope {
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

export function envelopeOf(event: StoredEvent, context: EnvelopeContext, destination?: string): Envelope {
  return {
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
  return (
    `{"id":${json(event.id)},"event":"${eventName(event.event).dotted}","instance":${json(event.instance)},"data":${event.dataJson}${to}` +
    `,"date_time":"${event.createdAt}","sender":${json(event.sender)},"server_url":${json(context.serverUrl)},"apikey":${json(context.apikeyOf(event.instanceId))}}`
  );
}

/** Adds members at the end of a JSON object's text (Kafka's `timestamp`, SQS's `dataType`), without parsing it. */
export function withFields(objectJson: string, fields: Readonly<Record<string, unknown>>): string {
  let members = '';
  for (const name in fields) members += `,${json(name)}:${json(fields[name])}`;
  return objectJson === '{}' ? `{${members.slice(1)}}` : `${objectJson.slice(0, -1)}${members}}`;
}
