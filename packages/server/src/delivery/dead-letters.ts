import type { DeliveryRecord, Store, StoredEvent } from '../store/types.ts';

/** Events one replay selects at most; a larger selection is cut (and says so). */
export const MAX_REPLAY = 10_000;
const PAGE = 500;

/** Events by id, read in pages (a replay may name thousands). */
export async function eventsByIds(store: Store, ids: readonly string[]): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (let i = 0; i < ids.length; i += PAGE) events.push(...(await store.getByIds(ids.slice(i, i + PAGE))));
  return events;
}

/** When a record's last attempt was answered (ms): its start (`at`) and how long it took; an attempt started before `since` may be answered after it. */
function answeredAt(record: DeliveryRecord): number {
  const last = record.attempts.at(-1);
  return last ? Date.parse(last.at) + (last.durationMs ?? 0) : Number.NEGATIVE_INFINITY;
}

/**
 * A destination's dead-lettered events, oldest first: at most MAX_REPLAY + 1, so a caller can tell it
 * cut them. `since` (an ISO time) keeps those whose last attempt was answered then or later.
 */
export async function deadLetters(store: Store, destination: string, since = ''): Promise<StoredEvent[]> {
  const from = since ? Date.parse(since) : Number.NEGATIVE_INFINITY;
  const ids: string[] = [];
  let afterPos = 0;
  while (ids.length <= MAX_REPLAY) {
    const page = await store.listDeliveries({ destination, status: 'failed', afterPos, limit: PAGE });
    for (const record of page) if (answeredAt(record) >= from) ids.push(record.eventId);
    afterPos = page.at(-1)?.pos ?? afterPos;
    if (page.length < PAGE) break;
  }
  return eventsByIds(store, ids.slice(0, MAX_REPLAY + 1));
}
