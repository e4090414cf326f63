import { validationError } from './errors.ts';
import { isObject, type Obj } from './validate.ts';
import type { EventKey } from './event-names.ts';
import { booleanField, type JsonSchema } from './schemas.ts';

/**
 * What a destination wants of the events its `events` list selects, by what they carry: messages
 * sent or received, group or direct chats, some chats, some message types. Every condition given
 * must hold; a condition on something an event does not carry (`fromMe` of a CONNECTION_UPDATE)
 * does not hold it back, so connection and instance events still arrive.
 */
export interface PayloadFilter {
  /** `data.key.fromMe` (or `data.fromMe`): true for what the instance sent, false for what it received. */
  readonly fromMe?: boolean;
  /** The chat's kind, by its JID: `groups` (`…@g.us`) or `direct` (`…@s.whatsapp.net`, `…@lid`). */
  readonly chats?: 'groups' | 'direct';
  /** Only these chats (`data.key.remoteJid`, `data.remoteJid`, or `data.id` when it is a JID). */
  readonly remoteJid?: readonly string[];
  /** Only these `data.messageType` values (`conversation`, `imageMessage`, …). */
  readonly messageType?: readonly string[];
}

/** The part of an event a filter reads: its name and data (a stored event or an envelope's). */
export interface Filterable {
  readonly event: EventKey;
  readonly data: unknown;
}

const FIELDS = ['fromMe', 'chats', 'remoteJid', 'messageType'] as const;
const MAX_VALUES = 1000;
const DIRECT = /@(s\.whatsapp\.net|lid|c\.us)$/;
const JID = /^[^\s@]+@[a-z.]+$/;

const record = (value: unknown): Obj | undefined => (isObject(value) ? value : undefined);

/** `data.key.fromMe`, else `data.fromMe`: undefined when the event says nothing about it. */
function fromMeOf(data: Obj): boolean | undefined {
  const value = record(data.key)?.fromMe ?? data.fromMe;
  return typeof value === 'boolean' ? value : undefined;
}

/** The chat's JID: `data.key.remoteJid`, `data.remoteJid`, or `data.id` when it is a JID. */
function chatOf(data: Obj): string | undefined {
  const value = record(data.key)?.remoteJid ?? data.remoteJid ?? data.id;
  return typeof value === 'string' && JID.test(value) ? value : undefined;
}

/** Whether an event passes the filter (a pure function of the event: the same answer on every channel and every replay). */
export function passesFilter(filter: PayloadFilter, event: Filterable): boolean {
  const data = record(event.data);
  if (!data) return true;
  if (filter.fromMe !== undefined) {
    const fromMe = fromMeOf(data);
    if (fromMe !== undefined && fromMe !== filter.fromMe) return false;
  }
  if (filter.chats !== undefined || filter.remoteJid !== undefined) {
    const chat = chatOf(data);
    if (chat !== undefined) {
      if (filter.chats === 'groups' && !chat.endsWith('@g.us')) return false;
      if (filter.chats === 'direct' && !DIRECT.test(chat)) return false;
      if (filter.remoteJid !== undefined && !filter.remoteJid.includes(chat)) return false;
    }
  }
  if (filter.messageType !== undefined && typeof data.messageType === 'string' && !filter.messageType.includes(data.messageType)) return false;
  return true;
}

/** A predicate for a destination, or undefined when the filter lets everything through. */
export function filterPredicate(filter: PayloadFilter | null | undefined): ((event: Filterable) => boolean) | undefined {
  if (!filter || !FIELDS.some((field) => filter[field] !== undefined)) return undefined;
  return (event) => passesFilter(filter, event);
}

function strings(value: unknown, path: string, normalize: (text: string, at: string) => string): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_VALUES) {
    throw validationError(`${path} must be an array of 1 to ${MAX_VALUES} strings`);
  }
  return [...new Set(value.map((item, index) => {
    if (typeof item !== 'string' || item.trim() === '') throw validationError(`${path}[${index}] must be a non-empty string`);
    return normalize(item.trim(), `${path}[${index}]`);
  }))];
}

/** A phone number (digits, country code first) is its direct chat's JID; a JID is kept as it is. */
function jid(text: string, path: string): string {
  if (JID.test(text)) return text;
  const digits = text.replace(/[\s+().-]/g, '');
  if (/^\d{8,15}$/.test(digits)) return `${digits}@s.whatsapp.net`;
  throw validationError(`${path} must be a JID (5511999990000@s.whatsapp.net, 1203630…@g.us) or a phone number with its country code`);
}

const STRINGS = (description: string): JsonSchema => ({ type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: MAX_VALUES, description });

/** The `filter` field of every channel's configuration (its checks beyond the shape are parsePayloadFilter's). */
export const PAYLOAD_FILTER_SCHEMA: JsonSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  description: 'Which of the selected events are delivered, by what they carry; every field given must hold (docs/webhooks.md#payload-filters).',
  properties: {
    fromMe: booleanField('true: what the instance sent; false: what it received.'),
    chats: { type: 'string', enum: ['groups', 'direct'], 'x-message': 'must be "groups" or "direct"', description: 'groups (…@g.us) or direct chats.' },
    remoteJid: STRINGS('Only these chats: JIDs, or phone numbers with their country code.'),
    messageType: STRINGS('Only these data.messageType values (conversation, imageMessage, …).'),
  },
};

/** Validates a `filter` object of a channel's configuration; null when absent. A 400 names the bad field. */
export function parsePayloadFilter(value: unknown, path: string): PayloadFilter | null {
  if (value === undefined || value === null) return null;
  const given = record(value);
  if (!given) throw validationError(`${path} must be a JSON object with any of ${FIELDS.join(', ')}`);
  const unknown = Object.keys(given).filter((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown.length) throw validationError(`${path}.${unknown[0]} is not a filter field: use ${FIELDS.join(', ')}`);
  const filter: { -readonly [K in keyof PayloadFilter]: PayloadFilter[K] } = {};
  if (given.fromMe !== undefined && given.fromMe !== null) {
    if (typeof given.fromMe !== 'boolean') throw validationError(`${path}.fromMe must be true (sent by the instance) or false (received)`);
    filter.fromMe = given.fromMe;
  }
  if (given.chats !== undefined && given.chats !== null) {
    if (given.chats !== 'groups' && given.chats !== 'direct') throw validationError(`${path}.chats must be "groups" or "direct"`);
    filter.chats = given.chats;
  }
  if (given.remoteJid !== undefined && given.remoteJid !== null) filter.remoteJid = strings(given.remoteJid, `${path}.remoteJid`, jid);
  if (given.messageType !== undefined && given.messageType !== null) filter.messageType = strings(given.messageType, `${path}.messageType`, (text) => text);
  return Object.keys(filter).length ? filter : null;
}
