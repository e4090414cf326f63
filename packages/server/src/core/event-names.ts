/**
 * The one table of event names. Every wire form is derived from it; nothing else converts names.
 *
 * - key (UPPER_SNAKE): config `events` filters, `*_EVENTS_*` env toggles, Pusher event names
 * - dotted: envelope `event`, Socket.IO event names, NATS subjects (Evolution API's own values)
 * - kebab: webhook `byEvents` suffix, Kafka topics, SQS queues, RabbitMQ routing keys
 * - realtime: the seed-000 SDK vocabulary (`Message`, `Connected`, …) where an event maps onto it
 */

export type RealtimeType =
  | 'Message'
  | 'ReadReceipt'
  | 'Presence'
  | 'ChatPresence'
  | 'HistorySync'
  | 'Connected'
  | 'Disconnected'
  | 'GroupParticipantsAdd'
  | 'GroupParticipantsRemove';

/** How an event maps to the realtime vocabulary: the types it can become, and how its data picks one. */
interface RealtimeMapping {
  readonly types: readonly RealtimeType[];
  readonly pick?: (data: unknown) => RealtimeType | undefined;
}

interface Row {
  key: string;
  dotted?: string;
  realtime?: RealtimeMapping;
}

const field = (data: unknown, name: string): unknown =>
  data !== null && typeof data === 'object' ? (data as Record<string, unknown>)[name] : undefined;

/** Picks a realtime type by the value of one field of the event's data. */
const pickBy =
  (name: string, table: Record<string, RealtimeType>) =>
  (data: unknown): RealtimeType | undefined =>
    table[String(field(data, name))];

/** Typing, recording and paused are presences in a chat; available and unavailable are a user's. */
const CHAT_PRESENCES = new Set(['composing', 'recording', 'paused']);

/** The presences a PRESENCE_UPDATE carries (Baileys shape: `presences: {jid: {lastKnownPresence}}`). */
function presencesOf(data: unknown): string[] {
  const presences = field(data, 'presences');
  if (presences === null || typeof presences !== 'object') return [String(field(data, 'presence'))];
  return Object.values(presences as Record<string, unknown>).map((entry) => String(field(entry, 'lastKnownPresence')));
}

const ROWS = [
  { key: 'APPLICATION_STARTUP' },
  { key: 'INSTANCE_CREATE' },
  { key: 'INSTANCE_DELETE' },
  { key: 'QRCODE_UPDATED' },
  {
    key: 'CONNECTION_UPDATE',
    realtime: {
      types: ['Connected', 'Disconnected'],
      pick: pickBy('state', { open: 'Connected', close: 'Disconnected' }),
    },
  },
  // Sent beside CONNECTION_UPDATE when a session ends for good (logged out, forbidden): `status: 'closed'`.
  { key: 'STATUS_INSTANCE' },
  { key: 'REMOVE_INSTANCE' },
  { key: 'LOGOUT_INSTANCE' },
  { key: 'MESSAGES_SET', realtime: { types: ['HistorySync'] } },
  { key: 'MESSAGES_UPSERT', realtime: { types: ['Message'] } },
  { key: 'MESSAGES_UPDATE', realtime: { types: ['ReadReceipt'] } },
  { key: 'MESSAGES_DELETE' },
  { key: 'MESSAGES_EDITED' },
  { key: 'SEND_MESSAGE', realtime: { types: ['Message'] } },
  { key: 'SEND_MESSAGE_UPDATE' },
  { key: 'CONTACTS_SET' },
  { key: 'CONTACTS_UPSERT' },
  { key: 'CONTACTS_UPDATE' },
  { key: 'CHATS_SET' },
  { key: 'CHATS_UPSERT' },
  { key: 'CHATS_UPDATE' },
  { key: 'CHATS_DELETE' },
  {
    key: 'PRESENCE_UPDATE',
    realtime: {
      types: ['Presence', 'ChatPresence'],
      pick: (data) => (presencesOf(data).some((p) => CHAT_PRESENCES.has(p)) ? 'ChatPresence' : 'Presence'),
    },
  },
  { key: 'GROUPS_UPSERT' },
  { key: 'GROUPS_UPDATE' },
  {
    key: 'GROUP_PARTICIPANTS_UPDATE',
    dotted: 'group-participants.update',
    realtime: {
      types: ['GroupParticipantsAdd', 'GroupParticipantsRemove'],
      pick: pickBy('action', { add: 'GroupParticipantsAdd', remove: 'GroupParticipantsRemove' }),
    },
  },
  { key: 'LABELS_EDIT' },
  { key: 'LABELS_ASSOCIATION' },
  { key: 'CALL' },
  { key: 'TYPEBOT_START' },
  { key: 'TYPEBOT_CHANGE_STATUS', dotted: 'typebot.change-status' },
  { key: 'ERRORS' },
  // Pombo's own operator event (not in Evolution API): an instance webhook disabled after failing.
  { key: 'WEBHOOK_DISABLED' },
] as const satisfies readonly Row[];

export type EventKey = (typeof ROWS)[number]['key'];

export interface EventName {
  readonly key: EventKey;
  readonly dotted: string;
  readonly kebab: string;
  readonly realtime: RealtimeMapping | undefined;
}

export const EVENT_NAMES: readonly EventName[] = ROWS.map((row: Row) => {
  const dotted = row.dotted ?? row.key.toLowerCase().replaceAll('_', '.');
  return Object.freeze({ key: row.key as EventKey, dotted, kebab: dotted.replaceAll('.', '-'), realtime: row.realtime });
});

export const EVENT_KEYS: readonly EventKey[] = EVENT_NAMES.map((name) => name.key);

export const REALTIME_TYPES: readonly RealtimeType[] = [
  'Message',
  'ReadReceipt',
  'Presence',
  'ChatPresence',
  'HistorySync',
  'Connected',
  'Disconnected',
  'GroupParticipantsAdd',
  'GroupParticipantsRemove',
];

const byAnyForm = new Map<string, EventName>();
for (const name of EVENT_NAMES) {
  byAnyForm.set(name.key, name);
  byAnyForm.set(name.dotted, name);
  byAnyForm.set(name.kebab, name);
}

/**
 * Evolution API's other names, accepted where a name selects events (`events` filters, `*_EVENTS_*`
 * toggles, `?events=`), each standing for the Pombo event that carries the same news. An ingested
 * event must use the name of what it is: only an alias of the same event (`sameEvent`) is accepted there.
 */
export const EVENT_ALIASES = [
  { alias: 'GROUP_UPDATE', key: 'GROUPS_UPDATE', sameEvent: true, why: "Evolution's configs and toggles spell `groups.update` this way" },
  { alias: 'MESSAGING_HISTORY_SET', key: 'MESSAGES_SET', sameEvent: false, why: "Baileys' history sync, which Evolution delivers as `messages.set`" },
] as const satisfies ReadonlyArray<{ alias: string; key: EventKey; sameEvent: boolean; why: string }>;

/** `event`: the name of one event (ingest); `filter`: a name that selects events (subscriptions, toggles). */
export type NameUse = 'event' | 'filter';

const byAlias = new Map<string, (typeof EVENT_ALIASES)[number]>(EVENT_ALIASES.map((entry) => [entry.alias, entry]));

/** Finds an event by any of its wire forms (UPPER_SNAKE, dotted or kebab) or an alias its use allows; undefined when unknown. */
export function findEventName(anyForm: string, use: NameUse = 'event'): EventName | undefined {
  const found = byAnyForm.get(anyForm) ?? byAnyForm.get(anyForm.toUpperCase());
  if (found) return found;
  const alias = byAlias.get(anyForm.toUpperCase());
  return alias && (use === 'filter' || alias.sameEvent) ? byAnyForm.get(alias.key) : undefined;
}

export function eventName(key: EventKey): EventName {
  const name = byAnyForm.get(key);
  if (!name) throw new Error(`unknown event key ${key}`);
  return name;
}

/** The realtime (seed 000) type of one event, or its UPPER_SNAKE key when the vocabulary has no word for it. */
export function realtimeTypeOf(event: { readonly event: EventKey; readonly data: unknown }): string {
  const mapping = eventName(event.event).realtime;
  if (!mapping) return event.event;
  // `data` is read only where the type depends on it: a stored event parses it on first use.
  return (mapping.pick ? mapping.pick(event.data) : mapping.types[0]) ?? event.event;
}

/** The event keys a realtime type can come from (used to pre-filter the log by name). */
export function keysForRealtimeType(type: RealtimeType): EventKey[] {
  return EVENT_NAMES.filter((name) => name.realtime?.types.includes(type)).map((name) => name.key);
}

/**
 * The keys a stored `events` list selects. Every event is stored as no list at all, so that it takes
 * in the events added to the table later; a list names just its keys.
 */
export const selectedKeys = (events: readonly EventKey[] | undefined): readonly EventKey[] => events ?? EVENT_KEYS;
