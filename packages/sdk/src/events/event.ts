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
 * The UPPER_SNAKE types: the names of the events the vocabulary has no word for (or, for
 * `CONNECTION_UPDATE`, `PRESENCE_UPDATE` and `GROUP_PARTICIPANTS_UPDATE`, no word for every one).
 * `MESSAGES_UPSERT` and the others with a fixed word always arrive as that word (`Message`).
 */
export const OTHER_EVENT_TYPES = [
  'APPLICATION_STARTUP',
  'INSTANCE_CREATE',
  'INSTANCE_DELETE',
  'QRCODE_UPDATED',
  'CONNECTION_UPDATE',
  'STATUS_INSTANCE',
  'REMOVE_INSTANCE',
  'LOGOUT_INSTANCE',
  'MESSAGES_DELETE',
  'MESSAGES_EDITED',
  'SEND_MESSAGE_UPDATE',
  'CONTACTS_SET',
  'CONTACTS_UPSERT',
  'CONTACTS_UPDATE',
  'CHATS_SET',
  'CHATS_UPSERT',
  'CHATS_UPDATE',
  'CHATS_DELETE',
  'PRESENCE_UPDATE',
  'GROUPS_UPSERT',
  'GROUPS_UPDATE',
  'GROUP_PARTICIPANTS_UPDATE',
  'LABELS_EDIT',
  'LABELS_ASSOCIATION',
  'CALL',
  'TYPEBOT_START',
  'TYPEBOT_CHANGE_STATUS',
  'ERRORS',
  'WEBHOOK_DISABLED',
] as const;

export type OtherEventType = (typeof OTHER_EVENT_TYPES)[number];

/** Not events: `open` is called each time a connection opens, `close` once when the subscription has closed. */
export const LIFECYCLE_EVENTS = ['open', 'close'] as const;

export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];

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
  type: EventType | OtherEventType | (string & {});
  instance_id: string;
  created_at: string;
  /** The webhook payload (an `Envelope`), or the Gap details for a `Gap` event. */
  data: T;
}

export type EventHandler = (event: PomboEvent<any>) => unknown;

/** `open`: a connection opened (the first one is open when `subscribe()` resolves). */
export type OpenHandler = () => unknown;
/** `close`: the subscription closed, with the error when it ended in failure (what `waitForClose()` rejects with). */
export type CloseHandler = (error?: Error) => unknown;

/** Called for a handler that threw (with its event) and for connection trouble (without one). */
export type ErrorHandler = (error: Error, event?: PomboEvent) => void;
