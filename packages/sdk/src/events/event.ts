/** The VZaps realtime vocabulary (the event types of the VZaps SDKs), plus `Gap` (some events may have been lost: see docs/realtime-protocol.md). */
export const EVENT_TYPES = [
  'Message',
  'ReadReceipt',
  'Presence',
  'ChatPresence',
  'HistorySync',
  'Connected',
  'Disconnected',
  'GroupParticipantsAdd',
  'GroupParticipantsRemove',
  'Gap',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/**
 * The webhook payload of an event, which is also the realtime event's `data`: Evolution API's
 * envelope plus the event id. `event` is the dotted name (`messages.upsert`), `data` the event's own data.
 */
export interface Envelope<T = unknown> {
  id: string;
  event: string;
  instance: string;
  data: T;
  date_time: string;
  sender: string | null;
  server_url: string;
  apikey: string | null;
}

/**
 * One realtime event. `type` is a VZaps realtime type, or the UPPER_SNAKE name of events the vocabulary
 * has no word for (`QRCODE_UPDATED`, …). Delivery is at least once: deduplicate by `id`.
 */
export interface PomboEvent<T = unknown> {
  id: string;
  type: EventType | (string & {});
  instance_id: string;
  created_at: string;
  /** The webhook payload (an `Envelope`), or the Gap details for a `Gap` event. */
  data: T;
}

export type EventHandler = (event: PomboEvent<any>) => unknown;

/** Called for a handler that threw (with its event) and for connection trouble (without one). */
export type ErrorHandler = (error: Error, event?: PomboEvent) => void;
