import type { Metrics } from '../ops/metrics.ts';
import type { DestinationRef } from './destination.ts';
import type { Outcome } from './outcome.ts';

interface Tally {
  readonly spec: Pick<DestinationRef, 'channel' | 'instanceId'>;
  /** The instance's name when the tally began: an instance deleted before the scrape is named all the same. */
  readonly instanceName: string;
  counts: Record<Outcome['kind'], number>;
}

/** The label of a destination's instance in metrics: its name, `*` for a destination of every instance. */
export type InstanceLabel = (instanceId: string | null) => string;

/** Latencies kept per channel before they go to the histogram (bounds the memory between scrapes). */
const LATENCY_BATCH = 1024;

/**
 * Delivery counts and latencies, kept as plain numbers and handed to Prometheus in batches (on each
 * scrape, and every thousand latencies). prom-client builds a label key on every call: with a
 * realtime fan-out (every event × every subscriber) that was a fifth of the dispatcher's CPU. The
 * instance's name is looked up once per destination between two flushes, when its first delivery is recorded.
 */
export class DeliveryMetrics {
  private readonly tallies = new Map<string, Tally>();
  private readonly latencies = new Map<string, number[]>();

  constructor(
    private readonly metrics: Metrics,
    private readonly instanceLabel: InstanceLabel,
  ) {}

  record(spec: DestinationRef, kind: Outcome['kind']): void {
    let tally = this.tallies.get(spec.id);
    if (!tally) {
      const instanceName = this.instanceLabel(spec.instanceId);
      tally = { spec: { channel: spec.channel, instanceId: spec.instanceId }, instanceName, counts: { delivered: 0, retry: 0, dead: 0 } };
      this.tallies.set(spec.id, tally);
    }
    tally.counts[kind]++;
  }

  /** A delivery's latency, from the event's append. */
  latency(spec: Pick<DestinationRef, 'channel'>, seconds: number): void {
    let pending = this.latencies.get(spec.channel);
    if (!pending) {
      pending = [];
      this.latencies.set(spec.channel, pending);
    }
    pending.push(seconds);
    if (pending.length >= LATENCY_BATCH) this.observe(spec.channel, pending);
  }

  /** Moves everything recorded so far into the Prometheus metrics. */
  flush(): void {
    for (const { spec, instanceName, counts } of this.tallies.values()) {
      const labels = { channel: spec.channel, instance_name: instanceName };
      for (const [outcome, count] of Object.entries(counts)) {
        if (count > 0) this.metrics.deliveries.inc({ ...labels, outcome }, count);
      }
    }
    this.tallies.clear();
    for (const [channel, pending] of this.latencies) this.observe(channel, pending);
  }

  /** Drops the counts of a deleted instance's destinations not flushed yet (its series are removed). */
  forget(instanceId: string): void {
    for (const [id, tally] of this.tallies) if (tally.spec.instanceId === instanceId) this.tallies.delete(id);
  }

  private observe(channel: string, pending: number[]): void {
    const labels = { channel };
    for (const seconds of pending) this.metrics.deliveryLatency.observe(labels, seconds);
    pending.length = 0;
  }
}
