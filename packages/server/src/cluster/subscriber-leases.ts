import type { Logger } from 'pino';
import type { ClusterStore, SubscriberTakeover } from '../store/types.ts';

interface Take {
  readonly id: string;
  resolve(epoch: number): void;
  reject(error: unknown): void;
}

/**
 * The durable realtime subscribers this node serves (cluster mode, docs/cluster.md). A subscriber is
 * served by one node at a time, the one where its newest connection attached: attaching takes its
 * lease over whoever held it (a client that reconnects through a load balancer may land on another
 * node while the old one still thinks its socket alive), with a new epoch that fences its floor writes
 * in SQL. The node that held it learns it lost it from the takeover's notification, from a refused floor
 * write, or at its next check (every third of the lease TTL), and closes its connections of it (`onLost`).
 */
export class SubscriberLeases {
  /** The subscribers this node serves, with the epoch their writes hold. */
  private readonly held = new Map<string, number>();
  private waiting: Take[] = [];
  private taking: Promise<void> | undefined;
  /** Newer epochs heard of (another node's takeovers) for subscribers whose takeover here is under way. */
  private readonly heardMeanwhile = new Map<string, number>();
  private readonly listeners = new Set<(id: string) => void>();

  constructor(
    private readonly nodeId: string,
    private readonly cluster: ClusterStore,
    private readonly log: Logger,
  ) {
    cluster.onTakeover((takeover) => this.heard(takeover));
  }

  /** Called with a subscriber this node no longer serves: its connections here must close. */
  onLost(listener: (id: string) => void): void {
    this.listeners.add(listener);
  }

  /**
   * Takes the subscriber over for this node; resolves with its epoch once its writes are fenced with it.
   * Takeovers asked at the same moment (clients reconnecting in a wave) share one statement.
   */
  take(id: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ id, resolve, reject });
      this.heardMeanwhile.set(id, this.heardMeanwhile.get(id) ?? 0);
      this.taking ??= this.takeWaiting();
    });
  }

  private async takeWaiting(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    while (this.waiting.length) {
      const batch = this.waiting;
      this.waiting = [];
      try {
        const epochs = await this.cluster.takeOverSubscribers(this.nodeId, batch.map((take) => take.id));
        for (const take of batch) this.took(take, epochs.get(take.id));
      } catch (error) {
        for (const take of batch) {
          this.heardMeanwhile.delete(take.id);
          take.reject(error);
        }
      }
    }
    this.taking = undefined;
  }

  private took(take: Take, epoch: number | undefined): void {
    const newer = this.heardMeanwhile.get(take.id) ?? 0;
    this.heardMeanwhile.delete(take.id);
    if (epoch === undefined) return take.reject(new Error(`the lease of ${take.id} could not be taken`));
    this.cluster.fenceSubscriber(take.id, this.nodeId, epoch);
    // Another node took it again before this answer was read: this node does not serve it (`holds` says so).
    if (newer <= epoch) this.held.set(take.id, epoch);
    take.resolve(epoch);
  }

  /** Whether this node still serves the subscriber with the epoch it took it at. */
  holds(id: string, epoch: number): boolean {
    return this.held.get(id) === epoch;
  }

  /** The epoch this node serves the subscriber at (undefined: it does not, or no longer does). */
  epochOf(id: string): number | undefined {
    return this.held.get(id);
  }

  /** A floor write made at `epoch` was refused: the lease went to another node since. */
  refused(id: string, epoch: number | undefined): void {
    if (epoch !== undefined && this.held.get(id) === epoch) this.lose(id, 'a floor write was refused');
  }

  private heard({ subscriber, nodeId, epoch }: SubscriberTakeover): void {
    if (nodeId === this.nodeId) return;
    const meanwhile = this.heardMeanwhile.get(subscriber);
    if (meanwhile !== undefined) this.heardMeanwhile.set(subscriber, Math.max(meanwhile, epoch));
    const held = this.held.get(subscriber);
    if (held !== undefined && epoch > held) this.lose(subscriber, `node ${nodeId} took it over`);
  }

  /** Checks that the database still gives this node the subscribers it serves (a takeover's notification may be missed). */
  async verify(): Promise<void> {
    if (!this.held.size) return;
    const asked = new Map(this.held);
    const still = await this.cluster.heldSubscribers(this.nodeId, asked);
    for (const [id, epoch] of asked) {
      if (!still.has(id) && this.held.get(id) === epoch) this.lose(id, 'another node serves it');
    }
  }

  /** Its writes stay fenced (refused) until the subscriber leaves this node's memory (`forget`). */
  private lose(id: string, why: string): void {
    this.held.delete(id);
    this.log.info({ node: this.nodeId, destination: id, why }, 'cluster: realtime subscriber served by another node now; closing its connections here');
    for (const listener of this.listeners) listener(id);
  }

  /** The subscriber left this node's memory (its last connection here closed, its floor written). */
  forget(id: string): void {
    this.held.delete(id);
    this.cluster.unfence(id);
  }
}
