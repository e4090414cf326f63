import type { EventKey } from '../core/event-names.ts';
import type { EventLog, StoredEvent } from '../store/types.ts';

/** What a reader that is behind gets for one read. */
export interface CatchUpPage {
  events: readonly StoredEvent[];
  /** Every event the read asked for up to this position is in `events`: the reader goes on after it. */
  through: number;
}

/** A stretch of one instance's log (or of the whole log: null) as read for one set of event keys: all such events after `from`, through `through`. */
interface Span {
  readonly instanceId: string | null;
  readonly keys: string;
  readonly from: number;
  through: number;
  events: readonly StoredEvent[];
  /** Set while the read is running. */
  reading: Promise<void> | undefined;
  usedAt: number;
}

/** Spans kept at most (each up to a page of events)… */
const SPANS = 32;
/** …and events held in them at most. */
const EVENTS = 4000;
/** A span not used for this long is dropped. */
const IDLE_MS = 5000;

/** Position of the first event after `pos` (events are in log order). */
function firstAfter(events: readonly StoredEvent[], pos: number): number {
  let low = 0;
  let high = events.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((events[middle] as StoredEvent).pos <= pos) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * The log reads of connected readers that are behind, shared: realtime subscribers catching up with
 * their feed, and Socket.IO sockets replaying what they missed (`auth.lastEventId`). After a restart,
 * or when a burst fills their windows, many readers of an instance read the same stretch of its log:
 * it is read once, and they get the same event objects, so each event's frame or envelope is also
 * made once. A stretch stays while it is in use and at most `IDLE_MS` after; at most `SPANS`
 * stretches and `EVENTS` events are kept (the least recently used go first).
 *
 * The dispatcher's workers read on their own: each reads its destination's stretch once, in
 * windows of its own size, and sharing their reads would only push the readers above out of here.
 */
export class CatchUpReads {
  private spans: Span[] = [];
  private sweep: NodeJS.Timeout | undefined;

  constructor(private readonly log: Pick<EventLog, 'read'>) {}

  /** Up to `limit` of the instance's events (null: every instance's) with these keys (null: every event) after `afterPos`, through `untilPos`. */
  async read(instanceId: string | null, keys: ReadonlySet<EventKey> | null, afterPos: number, untilPos: number, limit: number): Promise<CatchUpPage> {
    const keyString = keys ? [...keys].sort().join(',') : '*';
    for (;;) {
      const span = this.find(instanceId, keyString, afterPos);
      if (!span) break;
      if (span.reading) {
        // Read by another subscriber right now: wait for it; its failure is this read's too (the reader retries later).
        await span.reading;
        continue;
      }
      span.usedAt = performance.now();
      return slice(span, afterPos, untilPos, limit);
    }
    const span: Span = { instanceId, keys: keyString, from: afterPos, through: afterPos, events: [], reading: undefined, usedAt: performance.now() };
    span.reading = this.log
      .read({ afterPos, untilPos, limit, ...(instanceId === null ? {} : { instanceId }), ...(keys ? { events: [...keys] } : {}) })
      .then((events) => {
        span.events = events;
        // A short page is all there is up to `untilPos`.
        span.through = events.length === limit ? (events.at(-1) as StoredEvent).pos : untilPos;
        span.reading = undefined;
      });
    this.add(span);
    try {
      await span.reading;
    } catch (error) {
      this.spans = this.spans.filter((other) => other !== span);
      throw error;
    }
    this.trim();
    return slice(span, afterPos, untilPos, limit);
  }

  /** A span that holds the events after `afterPos` (or, still reading, one that starts there). */
  private find(instanceId: string | null, keys: string, afterPos: number): Span | undefined {
    for (const span of this.spans) {
      if (span.instanceId !== instanceId || span.keys !== keys) continue;
      if (span.reading ? span.from === afterPos : span.from <= afterPos && afterPos < span.through) return span;
    }
    return undefined;
  }

  private add(span: Span): void {
    this.drop(performance.now() - IDLE_MS);
    this.spans.push(span);
    this.trim();
    if (!this.sweep) {
      this.sweep = setInterval(() => this.drop(performance.now() - IDLE_MS), IDLE_MS);
      this.sweep.unref();
    }
  }

  /** Drops the spans used least recently (not those being read) while there are too many, or too many events in them. */
  private trim(): void {
    let events = 0;
    for (const span of this.spans) events += span.events.length;
    while (this.spans.length > SPANS || events > EVENTS) {
      const idle = this.spans.filter((span) => !span.reading).sort((a, b) => a.usedAt - b.usedAt)[0];
      if (!idle) return;
      this.spans = this.spans.filter((span) => span !== idle);
      events -= idle.events.length;
    }
  }

  /** Drops the spans last used before `before`. */
  private drop(before: number): void {
    this.spans = this.spans.filter((span) => span.reading || span.usedAt >= before);
    if (!this.spans.length && this.sweep) {
      clearInterval(this.sweep);
      this.sweep = undefined;
    }
  }
}

/** The part of a span a read asks for. */
function slice(span: Span, afterPos: number, untilPos: number, limit: number): CatchUpPage {
  const start = firstAfter(span.events, afterPos);
  const end = Math.min(firstAfter(span.events, untilPos), start + limit);
  const events = span.events.slice(start, end);
  const through = events.length === limit ? (events.at(-1) as StoredEvent).pos : Math.min(span.through, untilPos);
  return { events, through };
}
