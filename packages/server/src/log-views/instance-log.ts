import type { EventKey } from '../core/event-names.ts';
import type { Instance, Store, StoredEvent } from '../store/types.ts';

/** Events read per query while scanning. */
const PAGE = 1000;
/**
 * The most events one view looks at: Evolution API answers these routes from its database, Pombo
 * from the retained log (EVENTS_RETENTION_HOURS), and keeps only the newest of them in memory so one
 * request stays bounded however busy the instance was.
 */
const MAX_SCANNED = 20_000;

/**
 * Visits the newest `max` (MAX_SCANNED) retained events of the given kinds of an instance, oldest first.
 * The log is read forwards (it has no backward read), keeping a window of the newest events.
 */
export async function scanInstanceLog(
  store: Store,
  instance: Instance,
  events: readonly EventKey[],
  visit: (event: StoredEvent) => void,
  max = MAX_SCANNED,
): Promise<void> {
  let window: StoredEvent[] = [];
  for (let afterPos = 0; ; ) {
    const page = await store.read({ instanceId: instance.id, events, afterPos, limit: PAGE });
    window.push(...page);
    // Trimmed once it holds two windows' worth, so trimming costs one copy per MAX_SCANNED events read.
    if (window.length >= 2 * max) window = window.slice(-max);
    if (page.length < PAGE) break;
    afterPos = (page.at(-1) as StoredEvent).pos;
  }
  for (const event of window.slice(-max)) visit(event);
}
