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

/** The reference for an envelope (its JSON text: a rare path, for events too large for a channel, may parse it). */
export function referenceTo(envelopeJson: string, size: number): EventReference {
  const { data: _data, ...rest } = JSON.parse(envelopeJson) as Envelope;
  return { ...rest, dataType: 'reference', fetch: eventUrl(rest.server_url, rest.instance, rest.id), size };
}
