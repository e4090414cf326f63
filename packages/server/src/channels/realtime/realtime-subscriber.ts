import type { EnvelopeContext } from '../../core/envelope.ts';
import { realtimeTypeOf, type EventKey } from '../../core/event-names.ts';
import type { Delivery, DestinationSpec } from '../../delivery/destination.ts';
import { delivered, retry, type Outcome } from '../../delivery/outcome.ts';
import type { RealtimeConnection } from './realtime-connection.ts';
import { accepts, keysOf } from './realtime-filter.ts';
import { frameOf } from './realtime-frame.ts';

export interface SubscriberLimits {
  maxInFlight: number;
  maxDeliver: number;
}

const noop = (): void => undefined;

/** The dispatcher destination of one (instance, subscriber name). */
export const subscriberId = (instanceId: string, name: string): string => `realtime:${instanceId}:${name}`;

/**
 * One durable subscriber: a dispatcher destination whose deliveries go to one of its live
 * connections. Connections with the same name share the work; each name gets every event.
 */
export class RealtimeSubscriber {
  readonly id: string;
  readonly connections: RealtimeConnection[] = [];
  private turn = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly instanceId: string,
    readonly name: string,
    private readonly envelope: EnvelopeContext,
  ) {
    this.id = subscriberId(instanceId, name);
  }

  /** Runs `task` after every earlier one of this subscriber, so connects, disconnects and removal never interleave. */
  serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task);
    this.chain = run.then(noop, noop);
    return run;
  }

  /** The destination: unordered, a bounded window of unacked events, redelivered up to `maxDeliver` times. */
  spec(limits: SubscriberLimits): DestinationSpec {
    return {
      id: this.id,
      channel: 'realtime',
      instanceId: this.instanceId,
      events: keysOf(this.connections.map((connection) => connection.filter)),
      ordering: 'none',
      maxInFlight: limits.maxInFlight,
      maxBatch: 1,
      // The ack wait is the delay: an unacked event goes out again as soon as its wait has passed.
      retry: { maxAttempts: limits.maxDeliver, delayMs: () => 0 },
      record: 'failures',
      startAt: 'now',
      // A cursor write per ack and per subscriber would be most of the cost; after a crash, at most the last
      // second of acked events is delivered again (at least once, deduplicated by id on the client).
      saveDelayMs: 1000,
      // Subscriber names are the client's choice: one series per instance keeps the metrics bounded.
      metricsLabel: `realtime:${this.instanceId}`,
      // One event per batch (maxBatch 1).
      send: async ([delivery]) => [await this.deliver(delivery as Delivery)],
    };
  }

  private deliver({ event }: Delivery): Promise<Outcome> | Outcome {
    const connection = this.pick(event.event, realtimeTypeOf(event.event, event.data));
    if (connection) return connection.deliver(event.id, frameOf(event, this.envelope));
    // No connection asked for this type (a Connected-only subscriber and a Disconnected event): nothing to do.
    return this.connections.length ? delivered() : retry('no live connection');
  }

  /** The live connection that wants the event and has the fewest unacked events, taking turns on ties. */
  private pick(key: EventKey, type: string): RealtimeConnection | undefined {
    let best: RealtimeConnection | undefined;
    const count = this.connections.length;
    for (let i = 0; i < count; i++) {
      const connection = this.connections[(this.turn + i) % count] as RealtimeConnection;
      if (connection.closed || !accepts(connection.filter, key, type)) continue;
      if (!best || connection.inFlight < best.inFlight) best = connection;
    }
    this.turn = (this.turn + 1) % Math.max(1, count);
    return best;
  }
}
