import { findEventName, type EventKey, type NameUse } from './event-names.ts';
import { excerpt, PomboError, validationError } from './errors.ts';

/** Small, explicit validators whose messages name the offending field, so a person can fix the request. */

export type Obj = Record<string, unknown>;

/** A JSON object (not null, not an array). */
export const isObject = (value: unknown): value is Obj => value !== null && typeof value === 'object' && !Array.isArray(value);

export function object(value: unknown, path: string): Obj {
  if (!isObject(value)) throw validationError(`${path} must be a JSON object`);
  return value;
}

export function optionalObject(body: Obj, key: string, path = key): Obj | undefined {
  const value = body[key];
  return value === undefined || value === null ? undefined : object(value, path);
}

function notLongerThan(value: string, path: string, maxLength: number): string {
  if (value.length > maxLength) throw validationError(`${path} has ${value.length} characters; at most ${maxLength} are allowed`);
  return value;
}

export function string(body: Obj, key: string, path = key, maxLength = Number.POSITIVE_INFINITY): string {
  const value = body[key];
  if (typeof value !== 'string' || value.trim() === '') throw validationError(`${path} is required and must be a non-empty string`);
  return notLongerThan(value.trim(), path, maxLength);
}

export function optionalString(body: Obj, key: string, path = key, maxLength = Number.POSITIVE_INFINITY): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw validationError(`${path} must be a string`);
  return value.trim() === '' ? undefined : notLongerThan(value.trim(), path, maxLength);
}

export function optionalBoolean(body: Obj, key: string, path = key): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw validationError(`${path} must be true or false`);
  return value;
}

export function optionalInteger(body: Obj, key: string, min: number, max: number, path = key): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw validationError(`${path} must be an integer between ${min} and ${max}`);
  }
  return value;
}

export function oneOf<T extends string>(body: Obj, key: string, values: readonly T[], fallback: T, path = key): T {
  const value = body[key];
  if (value === undefined || value === null) return fallback;
  const match = values.find((candidate) => typeof value === 'string' && candidate.toLowerCase() === value.toLowerCase());
  if (!match) throw validationError(`${path} must be one of ${values.join(', ')}`);
  return match;
}

/**
 * An event name in any wire form, turned into its key; unknown names are a 400 naming the event.
 * A name that selects events (`filter`, the default) may also be one of Evolution's aliases.
 */
export function eventKey(value: unknown, path: string, use: NameUse = 'filter'): EventKey {
  if (typeof value !== 'string') throw validationError(`${path} must be an event name such as MESSAGES_UPSERT`);
  const name = findEventName(value.trim(), use);
  if (!name) throw new PomboError('POMBO_ERR_UNKNOWN_EVENT', { event: excerpt(value) });
  return name.key;
}

/** The longest `events` list a request may give (every name appears a few times over in the wire forms). */
export const EVENT_LIST_MAX = 256;

/** Checks an `events` list's length before its names are looked at. */
export function eventListLength(list: readonly unknown[], path: string): void {
  if (list.length > EVENT_LIST_MAX) throw validationError(`${path} holds ${list.length} names; at most ${EVENT_LIST_MAX} are allowed`);
}

/** An `events` list: empty or missing means every event, undefined here (as stored: `selectedKeys`). */
export function eventList(body: Obj, key = 'events', path = key): EventKey[] | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw validationError(`${path} must be an array of event names`);
  eventListLength(value, path);
  if (value.length === 0) return undefined;
  return [...new Set(value.map((item, index) => eventKey(item, `${path}[${index}]`)))];
}

/** Instance names end up in routing keys, subjects and queue names: letters, digits, `-` and `_` only. */
export const INSTANCE_NAME = /^[A-Za-z0-9_-]{1,64}$/;


const JID = /^[\d-]{5,40}@(s\.whatsapp\.net|g\.us|lid)$/;

/** A phone number with its country code (`+`, spaces, dots, dashes and parentheses ignored), or a WhatsApp JID. */
export function phone(value: unknown, path: string): string {
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (JID.test(trimmed)) return trimmed;
    const digits = trimmed.replace(/[\s+().-]/g, '');
    if (/^\d{8,15}$/.test(digits)) return digits;
  }
  throw validationError(`${path} must be a phone number with its country code (8 to 15 digits, e.g. 5511999990000) or a JID such as 5511999990000@s.whatsapp.net`);
}

export function httpUrl(value: unknown, path: string): string {
  if (typeof value !== 'string') throw validationError(`${path} must be an http(s) URL`);
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
    return url.toString();
  } catch {
    throw validationError(`${path} must be an absolute http:// or https:// URL, got "${excerpt(value)}"`);
  }
}
