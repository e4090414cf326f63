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

/** Parses names in any form: `Message`, `MESSAGES_UPSERT`, `messages.upsert`, `messages-upsert`; `All` means every event. */
export function parseFilter(names: readonly string[]): RealtimeFilter {
  const keys = new Set<EventKey>();
  const types = new Set<RealtimeType>();
  for (const raw of names) {
    const name = raw.trim();
    if (name === '') continue;
    if (name === 'All') return EVERY_EVENT;
    const type = REALTIME_TYPES.find((candidate) => candidate === name);
    if (type) types.add(type);
    else keys.add(findEventName(name)?.key ?? unknown(name));
  }
  return { keys, types };
}

function unknown(name: string): never {
  throw new PomboError('POMBO_ERR_UNKNOWN_EVENT', { event: name }, [`realtime types: All, ${REALTIME_TYPES.join(', ')}`]);
}

export function accepts(filter: RealtimeFilter, key: EventKey, type: string): boolean {
  return isAll(filter) || filter.keys.has(key) || filter.types.has(type as RealtimeType);
}

/** The event keys the log must be read for to serve all these filters; null for every event. */
export function keysOf(filters: Iterable<RealtimeFilter>): Set<EventKey> | null {
  const union = new Set<EventKey>();
  for (const filter of filters) {
    if (isAll(filter)) return null;
    for (const key of filter.keys) union.add(key);
    for (const type of filter.types) for (const key of keysForRealtimeType(type)) union.add(key);
  }
  return union.size === EVENT_KEYS.length ? null : union;
}

/** The names of a filter, for status output. */
export const namesOf = (filter: RealtimeFilter): string[] => (isAll(filter) ? ['All'] : [...filter.types, ...filter.keys]);
