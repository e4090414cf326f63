import type { EventKey } from '../core/event-names.ts';
import type { Instance, Store, StoredEvent } from '../store/types.ts';

/** Events read per query while scanning; the log is read in this many at a time. */
const PAGE = 1000;
/**
 * The most events one view reads: Evolution API answers these routes from its database, Pombo from
 * the retained log (EVENTS_RETENTION_HOURS), and a scan stops here so one request stays bounded.
 */
export const MAX_SCANNED = 100_000;

/** Visits an instance's retained events of the given kinds, oldest first, at most MAX_SCANNED of them. */
export async function scanInstanceLog(store: Store, instance: Instance, events: readonly EventKey[], visit: (event: StoredEvent) => void): Promise<void> {
  let afterPos = 0;
  for (let scanned = 0; scanned < MAX_SCANNED; ) {
    const page = await store.read({ instanceId: instance.id, events, afterPos, limit: Math.min(PAGE, MAX_SCANNED - scanned) });
    for (const event of page) visit(event);
    scanned += page.length;
    if (page.length < PAGE) return;
    afterPos = (page.at(-1) as StoredEvent).pos;
  }
}
