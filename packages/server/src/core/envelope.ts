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
