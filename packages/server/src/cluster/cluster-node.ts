import type { Logger } from 'pino';
import type { ClusterConfig } from '../config/index.ts';
import type { DestinationSpec } from '../delivery/destination.ts';
import type { Dispatcher, LeasedDestination, LeaseGate } from '../delivery/dispatcher.ts';
import type { InstanceService } from '../instances/instance-service.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { ClusterStore, LeasedDestinationState, StoredEvent } from '../store/types.ts';
import { SubscriberLeases } from './subscriber-leases.ts';

/**
 * This Pombo as a node of a cluster (docs/cluster.md). Every third of the lease TTL, and whenever the
 * set of destinations changes, it: records its heartbeat; takes in instances other nodes changed (also
 * at once, one by one, as it hears they wrote them);
 * renews its leases (a lease it no longer holds stops its worker at once) and checks those of its
 * realtime subscribers (subscriber-leases.ts); frees leases of destinations gone; then gives up or
 * claims leases until it holds its fair share (destinations / live nodes, rounded up). A worker starts only after the store fences its writes with the lease's epoch, so a node
 * that lost a lease (paused, cut off) cannot move the cursor the new holder moves.
 */
export class ClusterNode implements LeaseGate {
  /** The leases this node holds, by destination, with their epochs. */
  private readonly held = new Map<string, number>();
  /** Destinations whose first cursor was set (the head when this node first saw them). */
  private readonly initialized = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** Fires when the leases may have expired without a renewal (cut off from the database, paused). */
  private watchdog: NodeJS.Timeout | undefined;
  /**
   * Until when (this process's clock) the leases are surely this node's: what the watchdog waits for.
   * Checked before each send too, as a node that runs again after a pause may handle its I/O (an
   * answer, then the next send) before the watchdog's timer.
   */
  private safeUntil = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Whether this process has sent its first heartbeat (which sets the node's start time). */
  private beaten = false;
  /** The durable realtime subscribers this node serves (checked at each renewal). */
  readonly subscribers: SubscriberLeases;
  /** Replays queued by other nodes being handed to this node's destinations, one pickup at a time. */
  private replaying: Promise<void> = Promise.resolve();
  /** Stops hearing of instances other nodes write (at stop, before the channels stop). */
  private unlisten: (() => void) | undefined;

  constructor(
    private readonly config: ClusterConfig,
    private readonly url: string,
    private readonly cluster: ClusterStore,
    private readonly dispatcher: Dispatcher,
    private readonly instances: InstanceService,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.subscribers = new SubscriberLeases(config.nodeId, cluster, log);
    cluster.onReplayQueued((destination) => {
      if (this.held.has(destination)) this.pickUpReplays([destination]);
    });
    // A write refused under the epoch this node still holds: the lease is gone already, the worker stops
    // now rather than at the next renewal. (Under an older epoch: the write of a worker still stopping.)
    cluster.onFencedWrite = (destination, epoch, kind) => {
      metrics.clusterFencedWrites.inc({ node: this.id, kind });
      // A subscriber's refused floor write is the realtime hub's to act on (SubscriberLeases.refused): its
      // client reconnected to another node, an everyday move, not a worker of this node running late.
      if (kind === 'subscriber') return log.info({ node: this.id, subscriber: destination, epoch }, 'cluster: floor write refused, another node serves the realtime subscriber');
      log.warn({ node: this.id, destination, epoch }, 'cluster: write refused, the lease moved since this worker took it');
      if (this.held.get(destination) !== epoch) return;
      this.held.delete(destination);
      void this.dispatcher.lost(destination);
    };
  }

  get id(): string {
    return this.config.nodeId;
  }

  /** Destinations delivered by one node at a time; a realtime feed serves its own node's clients, so each node runs its own. */
  needsLease(spec: DestinationSpec): boolean {
    return spec.channel !== 'realtime';
  }

  holds(id: string): boolean {
    return this.held.has(id);
  }

  writableUntil(id: string): number {
    return this.held.has(id) ? this.safeUntil : 0;
  }

  changed(): void {
    if (!this.stopped) this.tickSoon();
  }

  async initialize({ spec, firstHead }: LeasedDestination): Promise<void> {
    if (spec.startAt !== 'now' || this.initialized.has(spec.id)) return;
    await this.cluster.initCursor(spec.id, firstHead);
    this.initialized.add(spec.id);
  }

  elsewhere(ids: readonly string[]): Promise<Map<string, LeasedDestinationState>> {
    return this.cluster.destinationStates(ids);
  }

  /**
   * A replay of a destination this node does not run waits in the database for the node that does,
   * which hears of it at once (NOTIFY) or at its next renewal; it counts the events as queued.
   */
  async replayElsewhere(id: string, events: readonly StoredEvent[]): Promise<number> {
    await this.cluster.queueReplay(id, events.map((event) => event.id));
    return events.length;
  }

  /**
   * Hands the replays queued for these destinations (those this node holds) to their workers, and only
   * then removes them: a replay whose destination changed node before its records were written (refused)
   * stays for the next holder.
   */
  private pickUpReplays(destinations: readonly string[]): Promise<void> {
    this.replaying = this.replaying.then(async () => {
      try {
        const queued = await this.cluster.queuedReplays(this.id, destinations.filter((destination) => this.held.has(destination)));
        const handed: number[] = [];
        for (const { id, destination, eventIds } of queued) {
          // A worker not started yet (its previous one still stopping) gets it at the next renewal.
          if (!this.held.has(destination) || !this.dispatcher.status(destination)) continue;
          const replayed = await this.dispatcher.replayByIds(destination, eventIds);
          this.log.info({ node: this.id, destination, replayed }, 'cluster: replay asked on another node handed to the destination');
          handed.push(id);
        }
        await this.cluster.finishReplays(handed);
      } catch (error) {
        this.log.warn({ err: error, node: this.id }, 'cluster: could not hand queued replays over; trying again at the next renewal');
      }
    });
    return this.replaying;
  }

  /** The leases held now (for GET /cluster and metrics). */
  leaseCount(): number {
    return this.held.size;
  }

  /** Starts once this node's instances and channels are loaded: what it takes in is synced to them. */
  async start(): Promise<void> {
    // An instance another node configured (or changed the state of): taken in now, not at the next renewal.
    this.unlisten = this.cluster.onInstanceWritten((instanceId) => {
      this.instances.refreshOne(instanceId).catch((error: unknown) => {
        this.log.warn({ err: error, node: this.id, instanceId }, 'cluster: could not read an instance another node changed; taken in at the next renewal');
      });
    });
    await this.tick();
  }

  private tickSoon(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.tick().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.tickSoon();
      }
    });
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tickSoon(), Math.max(100, Math.floor(this.config.leaseTtlMs / 3)));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.cluster.heartbeat({ id: this.id, url: this.url, first: !this.beaten }, this.config.leaseTtlMs);
      this.beaten = true;
      await this.instances.refresh();
      await this.renew();
      await this.subscribers.verify();
      await this.balance();
      if (this.held.size) await this.pickUpReplays([...this.held.keys()]);
    } catch (error) {
      this.log.error({ err: error, node: this.id }, 'cluster: could not reach the database; trying again');
    } finally {
      this.metrics.clusterLeases.set({ node: this.id }, this.held.size);
      this.schedule();
    }
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    // Each lease carries its destination's status, for the other nodes' status routes.
    const statuses = new Map<string, string>();
    for (const destination of this.held.keys()) {
      const status = this.dispatcher.status(destination);
      if (status) statuses.set(destination, JSON.stringify(status));
    }
    const renewed = await this.cluster.renew(this.id, this.held, this.config.leaseTtlMs, statuses);
    this.armWatchdog(sentAt);
    for (const [destination, epoch] of [...this.held]) {
      if (renewed.get(destination) === epoch) continue;
      this.held.delete(destination);
      this.log.warn({ node: this.id, destination, epoch }, 'cluster: lease lost; stopping the destination here');
      await this.dispatcher.lost(destination);
    }
  }

  private async balance(): Promise<void> {
    const known = new Map(this.dispatcher.leasedDestinations().map((destination) => [destination.spec.id, destination]));
    const gone = new Map([...this.held].filter(([destination]) => !known.has(destination)));
    for (const destination of gone.keys()) this.held.delete(destination);
    await this.cluster.release(this.id, gone);

    const alive = Math.max(1, (await this.cluster.nodes()).filter((node) => node.alive).length);
    const share = Math.ceil(known.size / alive);
    if (this.held.size > share) return this.shed(this.held.size - share);
    if (this.held.size === share) return;

    const free = [...known.values()].filter(({ spec }) => !this.held.has(spec.id));
    // Stored when the destination was first seen here (Dispatcher.upsert), unless that failed.
    for (const destination of free) await this.initialize(destination);
    const claimed = await this.cluster.claim(this.id, free.map(({ spec }) => spec.id), share - this.held.size, this.config.leaseTtlMs);
    for (const [destination, epoch] of claimed) {
      this.held.set(destination, epoch);
      void this.startWorker(destination, epoch);
    }
    if (claimed.size) this.log.info({ node: this.id, claimed: [...claimed.keys()] }, 'cluster: leases taken');
  }

  /**
   * Starts the worker of a lease just taken once the destination's previous worker on this node, if it
   * is still stopping (the lease was lost or given up, then taken again), has finished: two workers of
   * one destination would send its events twice and out of order. The new worker's writes are fenced
   * with its own epoch; the previous worker's, made under an older one, are refused.
   */
  private async startWorker(destination: string, epoch: number): Promise<void> {
    await this.dispatcher.stopped(destination);
    if (this.stopped || this.held.get(destination) !== epoch) return;
    this.cluster.fence(destination, this.id, epoch);
    this.dispatcher.acquired(destination);
  }

  /**
   * Leases renewed at `sentAt` hold until `sentAt` + TTL at the earliest (the database's clock started
   * counting after that): unless a later renewal succeeds, the node stops their workers at 80% of it,
   * before another node can take them. A node cut off from the database stops delivering this way;
   * its writes would be refused anyway.
   */
  private armWatchdog(sentAt: number): void {
    clearTimeout(this.watchdog);
    this.safeUntil = sentAt + this.config.leaseTtlMs * 0.8;
    const due = this.safeUntil - Date.now();
    this.watchdog = setTimeout(() => void this.dropAll('cluster: leases not renewed in time; stopping their destinations here'), Math.max(0, due));
    this.watchdog.unref();
  }

  private async dropAll(reason: string): Promise<void> {
    if (!this.held.size) return;
    this.log.warn({ node: this.id, destinations: [...this.held.keys()] }, reason);
    const dropped = [...this.held.keys()];
    this.held.clear();
    await Promise.all(dropped.map((destination) => this.dispatcher.lost(destination)));
  }

  /** Gives up leases beyond the fair share, each once its worker has stopped and saved its state. */
  private async shed(count: number): Promise<void> {
    const given = new Map([...this.held].slice(0, count));
    for (const destination of given.keys()) {
      this.held.delete(destination);
      await this.dispatcher.lost(destination);
    }
    await this.cluster.release(this.id, given);
    this.log.info({ node: this.id, released: [...given.keys()] }, 'cluster: leases given up for balance');
  }

  /** Stops every worker holding a lease, frees the leases and leaves the cluster (a clean shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unlisten?.();
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    await this.running;
    for (const destination of this.held.keys()) await this.dispatcher.lost(destination);
    this.held.clear();
    await this.cluster.leave(this.id).catch(() => undefined);
  }
}
