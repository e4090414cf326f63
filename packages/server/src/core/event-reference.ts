import type { Envelope } from './envelope.ts';

/**
 * What a channel with a size limit (SQS, Pusher, Kafka) sends instead of an event too large for it:
 * the envelope without its `data`, plus where to fetch the whole event from Pombo's API. An event is
 * never dropped for its size.
 */
export type EventReference = Omit<Envelope, 'data'> & {
  dataType: 'reference';
  /** `GET` it with the `apikey` header (the instance token or the global key) to get the full envelope. */
  fetch: string;
  /** The size in bytes of the message that did not fit. */
  size: number;
};

/** The URL of `GET /events/:instanceName/:eventId`, which returns one retained event's envelope. */
export function eventUrl(serverUrl: string, instance: string, eventId: string): string {
  return `${serverUrl.replace(/\/+$/, '')}/events/${encodeURIComponent(instance)}/${encodeURIComponent(eventId)}`;
}

export function referenceTo(envelope: Envelope, size: number): EventReference {
  const { data: _data, ...rest } = envelope;
  return { ...rest, dataType: 'reference', fetch: eventUrl(envelope.server_url, envelope.instance, envelope.id), size };
}
