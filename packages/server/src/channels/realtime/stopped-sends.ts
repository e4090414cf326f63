/**
 * How many times each unacknowledged event of a stopped subscriber was sent, kept until the subscriber
 * comes back: a client that takes an event and closes without acknowledging it, connection after
 * connection (a payload that crashes it), reaches REALTIME_MAX_DELIVER across its connections and the
 * event is dead-lettered, instead of coming again for ever with the floor held behind it. In memory, per
 * node, bounded: the counts of the subscribers stopped longest ago go first.
 */
export class StoppedSends {
  private readonly bySubscriber = new Map<string, ReadonlyMap<number, number>>();

  constructor(private readonly capacity = 10_000) {}

  /** Keeps a stopped subscriber's counts (position → sends). */
  keep(subscriberId: string, sends: ReadonlyMap<number, number>): void {
    this.bySubscriber.delete(subscriberId);
    if (sends.size === 0) return;
    this.bySubscriber.set(subscriberId, sends);
    if (this.bySubscriber.size > this.capacity) this.bySubscriber.delete(this.bySubscriber.keys().next().value as string);
  }

  /** The counts of a subscriber that starts again (and forgets them here). */
  take(subscriberId: string): Map<number, number> | undefined {
    const sends = this.bySubscriber.get(subscriberId);
    this.bySubscriber.delete(subscriberId);
    return sends && new Map(sends);
  }

  /** Forgets the counts of the subscribers whose ids start with `prefix` (an instance deleted). */
  forget(prefix: string): void {
    for (const id of this.bySubscriber.keys()) if (id.startsWith(prefix)) this.bySubscriber.delete(id);
  }
}
