import type { Metrics } from '../ops/metrics.ts';
import type { Outcome } from './outcome.ts';

interface Tally {
  readonly channel: string;
  readonly destination: string;
  counts: Record<Outcome['kind'], number>;
}

/** Latencies kept per channel before they go to the histogram (bounds the memory between scrapes). */
const LATENCY_BATCH = 1024;

/**
 * Delivery counts and latencies, kept as plain numbers and handed to Prometheus in batches (on each
 * scrape, and every thousand latencies). prom-client builds a label key on every call: with a
 * realtime fan-out (every event × every subscriber) that was a fifth of the dispatcher's CPU.
 */
export class DeliveryMetrics {
  private readonly tallies = new Map<string, Tally>();
  private readonly latencies = new Map<string, number[]>();

  constructor(private readonly metrics: Metrics) {}

  record(channel: string, destination: string, kind: Outcome['kind'], latencySeconds?: number): void {
    let tally = this.tallies.get(destination);
    if (!tally) {
      tally = { channel, destination, counts: { delivered: 0, retry: 0, dead: 0 } };
      this.tallies.set(destination, tally);
    }
    tally.counts[kind]++;
    if (latencySeconds === undefined) return;
    const pending = this.latencies.get(channel) ?? [];
    pending.push(latencySeconds);
    this.latencies.set(channel, pending);
    if (pending.length >= LATENCY_BATCH) this.observe(channel, pending);
  }

  /** Moves everything recorded so far into the Prometheus metrics. */
  flush(): void {
    for (const { channel, destination, counts } of this.tallies.values()) {
      for (const [outcome, count] of Object.entries(counts)) {
        if (count > 0) this.metrics.deliveries.inc({ channel, destination, outcome }, count);
      }
    }
    this.tallies.clear();
    for (const [channel, pending] of this.latencies) this.observe(channel, pending);
  }

  private observe(channel: string, pending: number[]): void {
    const labels = { channel };
    for (const seconds of pending) this.metrics.deliveryLatency.observe(labels, seconds);
    pending.length = 0;
  }
}
