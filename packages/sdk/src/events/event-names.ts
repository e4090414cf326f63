import { EVENT_TYPES, OTHER_EVENT_TYPES, type EventType } from './event.ts';

/** The events that always arrive as a word of the vocabulary (`Message`, `ReadReceipt`, `HistorySync`), so are no `OTHER_EVENT_TYPES`. */
const WORDED_KEYS = ['MESSAGES_SET', 'MESSAGES_UPSERT', 'MESSAGES_UPDATE', 'SEND_MESSAGE'] as const;

/** Every event's UPPER_SNAKE name (Evolution API's, plus Pombo's WEBHOOK_DISABLED), as the server knows them. */
export const EVENT_KEYS = [...OTHER_EVENT_TYPES, ...WORDED_KEYS] as const;

export type EventKey = (typeof EVENT_KEYS)[number];

/** Evolution API's other names for some events, which a filter accepts too. */
export const EVENT_ALIASES = ['GROUP_UPDATE', 'MESSAGING_HISTORY_SET'] as const;

export type EventAlias = (typeof EVENT_ALIASES)[number];

/** The two dotted names that are not the key in lower case with dots (Evolution API's spelling). */
const IRREGULAR_DOTTED = { GROUP_PARTICIPANTS_UPDATE: 'group-participants.update', TYPEBOT_CHANGE_STATUS: 'typebot.change-status' } as const;

type Dots<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}.${Dots<Tail>}` : S;
type Dashes<S extends string> = S extends `${infer Head}.${infer Tail}` ? `${Head}-${Dashes<Tail>}` : S;

/** `messages.upsert`: the envelope's `event`. */
export type DottedEventName = { [K in EventKey]: K extends keyof typeof IRREGULAR_DOTTED ? (typeof IRREGULAR_DOTTED)[K] : Dots<Lowercase<K>> }[EventKey];
/** `messages-upsert`: the webhook `byEvents` suffix, Kafka topics, RabbitMQ routing keys. */
export type KebabEventName = Dashes<DottedEventName>;

/**
 * The names a subscription's `events` knows (it takes any string; these autocomplete): a realtime type
 * (`Message`, …; not `Gap`, which every subscription gets whatever its filter), `All`, or an event's
 * name in any of its forms.
 */
export type EventFilterName = Exclude<EventType, 'Gap'> | 'All' | EventKey | EventAlias | DottedEventName | KebabEventName;

const dotted = (key: EventKey): string => (IRREGULAR_DOTTED as Record<string, string>)[key] ?? key.toLowerCase().replaceAll('_', '.');

/** Every name `events` takes, as a list (to check a name read from configuration, for instance). */
export const EVENT_FILTER_NAMES: readonly EventFilterName[] = [
  ...EVENT_TYPES.filter((type) => type !== 'Gap'),
  'All',
  ...EVENT_KEYS,
  ...EVENT_ALIASES,
  ...EVENT_KEYS.map(dotted),
  ...EVENT_KEYS.map((key) => dotted(key).replaceAll('.', '-')),
] as EventFilterName[];
