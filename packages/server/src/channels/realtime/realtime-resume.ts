import { timeOfId } from '../../core/ids.ts';
import type { Store } from '../../store/types.ts';
import type { GapData } from './realtime-frame.ts';

/** Where a subscriber resumes: after log position `from` (undefined: at the head, for a new subscriber). */
export interface ResumePoint {
  from: number | undefined;
  gap?: GapData;
}

/**
 * How far past a subscriber's position the log is checked for pruned events. Retention prunes the
 * oldest first, so a pruned event past the position lies in this range unless every event of it was
 * kept by a pending delivery; the cap keeps the count of a resume far behind to a few milliseconds.
 */
const GAP_CHECK_SPAN = 10_000;

/**
 * Resumes from the earlier of the durable cursor (everything up to it is acked or dead-lettered) and
 * the client's `last_event_id`: the client's id is a hint that can only move the position back. An id
 * older than the retained log, or a position whose next events were pruned, yields a `Gap`. Events
 * are missing when the log holds fewer than there are positions after the subscriber's (the first
 * one after it may still be there, kept for a pending delivery, with the rest of the range pruned).
 */
export async function resumePoint(store: Store, instanceId: string, cursor: number | undefined, lastEventId?: string): Promise<ResumePoint> {
  let from = cursor;
  let expired: string | null = null;
  if (lastEventId) {
    const [anchor] = await store.getByIds([lastEventId]);
    if (anchor?.instanceId === instanceId) from = Math.min(from ?? anchor.pos, anchor.pos);
    else if (!anchor && (await olderThanLog(store, lastEventId))) {
      expired = lastEventId;
      from = 0;
    }
  }
  if (from === undefined) return { from };
  const until = Math.min(await store.headPosition(), from + GAP_CHECK_SPAN);
  const pruned = until > from && (await store.countBetween(from, until)) < until - from;
  if (expired === null && !pruned) return { from };
  const [next] = await store.read({ afterPos: from, limit: 1 });
  const oldest = next ?? (await store.read({ limit: 1 }))[0];
  const message = expired
    ? `last_event_id ${expired} is older than the retained log (EVENTS_RETENTION_HOURS): events after it may be lost`
    : 'events after this subscriber’s position were pruned by retention (EVENTS_RETENTION_HOURS) before delivery: some may be lost';
  return { from, gap: { reason: 'retention', message, last_event_id: expired, oldest_retained_at: oldest?.createdAt ?? null } };
}

/** Whether an id that is not in the log was made before the oldest event the log still holds. */
async function olderThanLog(store: Store, id: string): Promise<boolean> {
  const time = timeOfId(id);
  if (time === undefined) return false;
  const [oldest] = await store.read({ limit: 1 });
  return !oldest || time < Date.parse(oldest.createdAt);
}
