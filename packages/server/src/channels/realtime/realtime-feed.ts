import type { Logger } from 'pino';
import type { EnvelopeContext } from '../../core/envelope.ts';
import { realtimeTypeOf } from '../../core/event-names.ts';
import type { Delivery, DestinationSpec } from '../../delivery/destination.ts';
import type { Dispatcher } from '../../delivery/dispatcher.ts';
import { DELIVERED, type Outcome } from '../../delivery/outcome.ts';
import type { RetryPolicy } from '../../delivery/retry-policy.ts';
import type { Store, StoredEvent } from '../../store/types.ts';
import type { CatchUpReads } from '../../delivery/catch-up-reads.ts';
import type { RealtimeSubscriber } from './realtime-subscriber.ts';

export interface SubscriberLimits {
  ackWaitMs: number;
  maxInFlight: number;
  maxDeliver: number;
}

/** What an instance's feed and its subscribers use. */
export interface RealtimeContext {
  readonly store: Store;
  readonly dispatcher: Dispatcher;
  readonly log: Logger;
  readonly envelope: EnvelopeContext;
  readonly limits: SubscriberLimits;
  /** When a subscriber's event that got no ack is sent again, and when it is dead-lettered (REALTIME_MAX_DELIVER). */
  readonly retry: RetryPolicy;
  /** The log reads of the subscribers that are behind, shared among them. */
  readonly reads: CatchUpReads;
  /** Whether the instance's payload filter (`{"realtime": {"filter": …}}`) lets an event through. */
  passes(event: StoredEvent): boolean;
}

/** Events handed to the subscribers at once. */
const FEED_BATCH = 500;
/** How long the feed hands events before it lets the event loop run. */
const SLICE_MS = 10;

/** The parent of every feed's destination id: its children are the feeds and their subscribers. */
export const FEEDS = 'realtime';

/** The dispatcher destination of an instance's realtime subscribers. */
export const feedId = (instanceId: string): string => `${FEEDS}:${instanceId}`;

/**
 * One instance's realtime fan-out: a single dispatcher destination gets the instance's events in log
 * order, once, and hands each to every subscriber that follows it live, so the log is read and an
 * event held once whatever the number of subscribers. The destination's cursor, how far the feed got,
 * lives in memory only (a new feed starts at the head, and each node of a cluster runs its own); each
 * subscriber keeps its durable ack floor in the ledger.
 */
export class RealtimeFeed {
  readonly id: string;
  readonly subscribers: RealtimeSubscriber[] = [];
  /** The last event of the instance handed to the subscribers (at first, the log's head when the feed started). */
  position = 0;
  /** The feed destination's cursor: the instance's events up to it were handed (it moves past other instances' events too). */
  private cursor = 0;
  /** Resolves once the destination runs from `position`. */
  readonly ready: Promise<void>;
  started = false;

  constructor(
    readonly instanceId: string,
    readonly context: RealtimeContext,
  ) {
    this.id = feedId(instanceId);
    this.ready = this.start();
  }

  private async start(): Promise<void> {
    const { store, dispatcher } = this.context;
    const head = await store.headPosition();
    this.position = head;
    this.cursor = head;
    // The destination starts exactly where the subscribers' own reads of the log stop: nothing falls in between.
    void dispatcher.upsert(this.spec(head));
    this.started = true;
  }

  /** Where a subscriber that follows the feed and has nothing unacknowledged has its floor. */
  through(): number {
    return Math.max(this.position, this.cursor);
  }

  /** Reads the destination's cursor (on each save of the subscribers' floors and for status). */
  refresh(): void {
    this.cursor = this.context.dispatcher.cursor(this.id) ?? this.cursor;
  }

  private spec(from: number): DestinationSpec {
    return {
      id: this.id,
      channel: 'realtime',
      instanceId: this.instanceId,
      events: null,
      // The configuration is read per event: a changed filter applies at once, without a new destination.
      filter: (event) => this.context.passes(event),
      ordering: 'instance',
      maxInFlight: 1,
      maxBatch: FEED_BATCH,
      // Handing events over cannot fail; a bug in it must not stop the feed.
      retry: { maxAttempts: Number.POSITIVE_INFINITY, delayMs: () => 1000 },
      record: 'failures',
      startAt: 'now',
      // Each node runs its own feed from the head it started at; subscribers resume from their own floors.
      inMemoryFrom: from,
      relay: true,
      saveDelayMs: 1000,
      send: (batch) => this.hand(batch),
    };
  }

  /**
   * Hands a batch (in log order) to the live subscribers; events at or before `position` were handed
   * already. A burst is handed in slices of about SLICE_MS, with the event loop's other work (acks,
   * pings, the API) in between: an event is handed whole, but never a thousand at once.
   */
  private async hand(batch: readonly Delivery[]): Promise<Outcome[]> {
    let sliceStart = performance.now();
    for (const { event } of batch) {
      if (event.pos <= this.position) continue;
      if (performance.now() - sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
      this.position = event.pos;
      const type = realtimeTypeOf(event);
      for (const subscriber of this.subscribers) {
        if (!subscriber.live) continue;
        try {
          subscriber.offer(event, type);
        } catch (error) {
          this.context.log.error({ err: error, destination: subscriber.id }, 'realtime subscriber could not take an event');
        }
      }
    }
    return batch.map(() => DELIVERED);
  }
}
