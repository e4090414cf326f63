import {
  EVENT_KEYS,
  REALTIME_TYPES,
  findEventName,
  keysForRealtimeType,
  type EventKey,
  type RealtimeType,
} from '../../core/event-names.ts';
import { PomboError } from '../../core/errors.ts';

/**
 * What one realtime connection asked for: canonical event keys (any wire form, whole event) and
 * seed-000 types (`Connected` is only the CONNECTION_UPDATE events whose state is `open`).
 * Both empty means every event.
 */
export interface RealtimeFilter {
  readonly keys: ReadonlySet<EventKey>;
  readonly types: ReadonlySet<RealtimeType>;
}

export const EVERY_EVENT: RealtimeFilter = Object.freeze({ keys: new Set<EventKey>(), types: new Set<RealtimeType>() });

const isAll = (filter: RealtimeFilter): boolean => filter.keys.size === 0 && filter.types.size === 0;

/** Filters are shared by every connection that asks for the same events (most ask for the same few). */
const interned = new Map<string, RealtimeFilter>();
/** The same, by the names as written: a handshake that asks what an earlier one asked parses nothing. */
const byNames = new Map<string, RealtimeFilter>();
const MAX_INTERNED = 1000;

/** Parses names in any form: `Message`, `MESSAGES_UPSERT`, `messages.upsert`, `messages-upsert`; `All` means every event. */
export function parseFilter(names: readonly string[]): RealtimeFilter {
  const written = names.join('\u0000');
  const known = byNames.get(written);
  if (known) return known;
  const filter = parseNames(names);
  if (byNames.size < MAX_INTERNED) byNames.set(written, filter);
  return filter;
}

function parseNames(names: readonly string[]): RealtimeFilter {
  const keys = new Set<EventKey>();
  const types = new Set<RealtimeType>();
  for (const raw of names) {
    const name = raw.trim();
    if (name === '') continue;
    if (name === 'All') return EVERY_EVENT;
    const type = REALTIME_TYPES.find((candidate) => candidate === name);
    if (type) types.add(type);
    else keys.add(findEventName(name, 'filter')?.key ?? unknown(name));
  }
  const id = [...types, '|', ...keys].sort().join(',');
  const known = interned.get(id);
  if (known) return known;
  const filter = Object.freeze({ keys, types });
  if (interned.size < MAX_INTERNED) interned.set(id, filter);
  return filter;
}

function unknown(name: string): never {
  throw new PomboError('POMBO_ERR_UNKNOWN_EVENT', { event: name }, [`realtime types: All, ${REALTIME_TYPES.join(', ')}`]);
}

export function accepts(filter: RealtimeFilter, key: EventKey, type: string): boolean {
  return isAll(filter) || filter.keys.has(key) || filter.types.has(type as RealtimeType);
}

const keysOfOne = new WeakMap<RealtimeFilter, ReadonlySet<EventKey> | null>();

/** The event keys the log must be read for to serve all these filters; null for every event. */
export function keysOf(filters: readonly RealtimeFilter[]): ReadonlySet<EventKey> | null {
  const [only] = filters;
  if (filters.length === 1 && only) {
    if (!keysOfOne.has(only)) keysOfOne.set(only, union(filters));
    return keysOfOne.get(only) ?? null;
  }
  return union(filters);
}

function union(filters: readonly RealtimeFilter[]): Set<EventKey> | null {
  const keys = new Set<EventKey>();
  for (const filter of filters) {
    if (isAll(filter)) return null;
    for (const key of filter.keys) keys.add(key);
    for (const type of filter.types) for (const key of keysForRealtimeType(type)) keys.add(key);
  }
  return keys.size === EVENT_KEYS.length ? null : keys;
}

/** The names of a filter, for status output. */
export const namesOf = (filter: RealtimeFilter): string[] => (isAll(filter) ? ['All'] : [...filter.types, ...filter.keys]);
