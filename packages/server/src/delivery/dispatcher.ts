import type { Logger } from 'pino';
import { msOfIso } from '../core/iso-time.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { AppendInterest } from '../store/append-interest.ts';
import type { LeasedDestinationState, LedgerFigures, Store, StoredEvent } from '../store/types.ts';
import { DeliveryLog } from './delivery-log.ts';
import { DeliveryMetrics } from './delivery-metrics.ts';
import type { DestinationRef, DestinationSpec } from './destination.ts';
import { backlogOf, DestinationWorker, type DestinationStatus } from './destination-worker.ts';
import { CatchUpReads } from './catch-up-reads.ts';
import type { HealthState } from './circuit-breaker.ts';
import { Ledger } from './ledger-writer.ts';
import type { Outcome } from './outcome.ts';
import { givesUp } from './retry-policy.ts';

/**
 * Which destinations this node may run (cluster mode, see cluster/cluster-node.ts): a destination
 * that needs a lease runs only while the node holds it.
 */
export interface LeaseGate {
  /** This node's id. */
  readonly id: string;
  needsLease(spec: DestinationSpec): boolean;
  holds(id: string): boolean;
  /** Until when (ms since the epoch) the node surely holds the destination's lease: 0 when it does not hold it. */
  writableUntil(id: string): number;
  /** The set of destinations waiting for or holding a lease changed. */
  changed(): void;
  /**
   * Stores the first cursor of a destination that starts at the head (`startAt: 'now'`), unless one is
   * stored already: the head the first node to store it saw, whichever node runs it.
   */
  initialize(destination: LeasedDestination): Promise<void>;
  /** What the database says of destinations another node runs (or none does right now). */
  elsewhere(ids: readonly string[]): Promise<Map<string, LeasedDestinationState>>;
  /** Hands a replay to the node that runs the destination; answers how many events it will replay. */
  replayElsewhere(id: string, events: readonly StoredEvent[]): Promise<number>;
}

/**
 * A destination's status wherever it runs. On a node alone: its worker's. In cluster mode, on the node
 * that runs it: the same, with `node`; on another node: the status its holder published at its last
 * lease renewal (`asOf`), with the cursor as stored now.
 */
export interface DestinationReport {
  /** Undefined when no node published a status yet (or the destination is unknown). */
  readonly status: DestinationStatus | undefined;
  /**
   * The events the destination still owes: the log positions between this node's head and its cursor,
   * plus the pending retries behind the cursor (`status.pending`).
   */
  readonly backlog: number;
  /** Cluster mode: the node that runs it; null when none does right now (between two holders). */
  readonly node?: string | null;
  /** When its holder published `status` (another node's, in cluster mode); absent when it is this node's own. */
  readonly asOf?: string | null;
  /** A disabled destination (none runs it, `status` is undefined): what its ledger keeps, read now. */
  readonly disabled?: DisabledFigures;
}

/**
 * Destinations that run outside the dispatcher's workers (realtime subscribers, which share their
 * feed's worker): on each scrape, their owner calls `read` with each one's figures, as the gauges take
 * a worker's (`lag`: what it owes, `retrying`: not done, failed at least once). In-memory reads only.
 */
export type GaugeSource = (read: (channel: string, instanceId: string | null, lag: number, retrying: number) => void) => void;

/** What the destinations outside the workers of one channel and instance owe (`Dispatcher.outsideFigures`). */
export interface OutsideFigures {
  readonly channel: string;
  readonly instanceId: string | null;
  /** The largest lag among them. */
  lag: number;
  /** Their retrying deliveries, summed. */
  retrying: number;
}

/** The key of `Dispatcher.outsideFigures` for one channel and instance (null: every instance). */
export const figuresKey = (channel: string, instanceId: string | null): string => `${channel}\0${instanceId ?? '*'}`;

/** What a disabled destination's ledger keeps, and `waiting`: its instance's events stored past its cursor. */
export interface DisabledFigures extends LedgerFigures {
  readonly waiting: number;
}

/**
 * A destination its configuration keeps without running it (a disabled webhook): its cursor and delivery
 * records wait in the store, and what is appended meanwhile waits in the log, until it is enabled again.
 */
export type DisabledDestination = Pick<DestinationSpec, 'id' | 'channel' | 'instanceId'>;

/** Destinations of one channel and instance add up in one series: the largest lag, the retries summed. */
function addUp<T extends { lag: number; retrying: number }>(figures: Map<string, T>, key: string, fresh: () => T, lag: number, retrying: number): void {
  let entry = figures.get(key);
  if (!entry) figures.set(key, (entry = fresh()));
  entry.lag = Math.max(entry.lag, lag);
  entry.retrying += retrying;
}

/** A destination known to the dispatcher that needs a lease, and the log's head when this node first saw it. */
export interface LeasedDestination {
  readonly spec: DestinationSpec;
  readonly firstHead: number;
}

/**
 * The one dispatcher for every destination. Each destination has its own worker, cursor and
 * retries, so a slow or dead one never delays another.
 */
export class Dispatcher {
  private readonly workers = new Map<string, DestinationWorker>();
  /** Destinations that need a lease (cluster mode), running or not. */
  private readonly leased = new Map<string, LeasedDestination>();
  private gate: LeaseGate | undefined;
  /** Disabled destinations (known, not run), and their ledgers' figures as the last scrape read them (readDisabledFigures). */
  private readonly disabled = new Map<string, DisabledDestination>();
  private disabledFigures = new Map<string, DisabledFigures>();
  /** A disabled destination's `waiting`, as counted from its cursor through a head (counted on from there). */
  private readonly waitingCounts = new Map<string, { cursor: number; through: number; waiting: number }>();
  /** Destinations being stopped (their last save under way). */
  private readonly stopping = new Map<string, Promise<void>>();
  private head = 0;
  private unsubscribe: (() => void) | undefined;
  private readonly deliveryMetrics: DeliveryMetrics;
  private readonly deliveryLog: DeliveryLog;
  /** Instance id → name, for labels: kept from the first label until the instance is forgotten. */
  private readonly names = new Map<string, string>();
  private readonly gaugeSources = new Set<GaugeSource>();
  /** Where every destination's delivery state is written (its workers', and realtime subscribers'). */
  readonly ledger: Ledger;
  /** The shared log reads of connected readers that are behind (realtime subscribers, Socket.IO replays). */
  readonly catchUp: CatchUpReads;

  /** `instanceName` names instances in metrics and logs (their ids are meaningless to an operator). */
  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly instanceName: (instanceId: string) => string | undefined = () => undefined,
  ) {
    this.deliveryMetrics = new DeliveryMetrics(metrics, this.instanceLabel);
    this.deliveryLog = new DeliveryLog(log, this.instanceLabel);
    this.ledger = new Ledger(store, log);
    this.catchUp = new CatchUpReads(store);
  }

  /**
   * An instance's name, `*` for a destination of every instance. The name is remembered until
   * `forgetInstance`: a deleted instance's destinations still deliver its removal events, and those are
   * counted under its name too. The id only for an instance never seen here (a label that is not kept).
   */
  readonly instanceLabel = (instanceId: string | null): string => {
    if (instanceId === null) return '*';
    const known = this.names.get(instanceId);
    if (known !== undefined) return known;
    const name = this.instanceName(instanceId);
    if (name === undefined) return instanceId;
    this.names.set(instanceId, name);
    return name;
  };

  /**
   * A deleted instance whose destinations are gone: its metric series go too (by name, and by id for
   * any labelled so), with its counts not scraped yet, and its remembered name.
   */
  async forgetInstance(instance: { readonly id: string; readonly name: string }): Promise<void> {
    this.deliveryMetrics.forget(instance.id);
    this.names.delete(instance.id);
    await this.metrics.removeInstance([instance.name, instance.id]);
  }

  async start(): Promise<void> {
    this.head = await this.store.headPosition();
    this.unsubscribe = this.store.onAppend(
      (events, head) => this.onAppend(events, head),
      () => this.interest(),
    );
  }

  private onAppend(events: readonly StoredEvent[], head: number): void {
    const previous = this.head;
    this.head = Math.max(this.head, head);
    for (const worker of this.workers.values()) worker.offer(events, previous, this.head);
  }

  /** The instances whose events this node's workers deliver (every instance when one delivers them all). */
  private interest(): AppendInterest {
    const instances = new Set<string>();
    for (const worker of this.workers.values()) {
      if (worker.spec.instanceId === null) return { all: true };
      instances.add(worker.spec.instanceId);
    }
    return { instances };
  }

  /** From now on, destinations that need a lease run only while this node holds it. */
  useLeases(gate: LeaseGate): void {
    this.gate = gate;
  }

  /** The destinations that need a lease. */
  leasedDestinations(): LeasedDestination[] {
    return [...this.leased.values()];
  }

  /** The node took the destination's lease: its worker starts. */
  acquired(id: string): void {
    const destination = this.leased.get(id);
    if (destination && !this.workers.has(id)) this.startWorker(destination.spec, destination.firstHead);
  }

  /** The node lost or gave up the destination's lease: its worker stops (the destination stays known). */
  async lost(id: string): Promise<void> {
    const worker = this.workers.get(id);
    if (!worker) return;
    this.workers.delete(id);
    await this.stopWorker(id, worker);
  }

  /** Resolves once no worker of the destination is stopping (its last save done or given up). */
  async stopped(id: string): Promise<void> {
    while (this.stopping.has(id)) await this.stopping.get(id)?.catch(() => undefined);
  }

  private async stopWorker(id: string, worker: DestinationWorker): Promise<void> {
    const stopped = worker.stop();
    this.stopping.set(id, stopped);
    await stopped.finally(() => {
      if (this.stopping.get(id) === stopped) this.stopping.delete(id);
    });
  }

  /**
   * Adds a destination, or replaces its spec (its cursor and pending retries are kept). A new one with
   * no cursor yet starts at the head as of this call (`startAt: 'now'`). Resolves once that start is
   * fixed: at once on a node alone; in cluster mode, once its first cursor is stored (a node that hears
   * of the destination later sees a later head), or storing it failed (the node's next renewal tries
   * again). So what is appended after it resolves is delivered, whichever node runs the destination.
   */
  upsert(spec: DestinationSpec): Promise<void> {
    // Named while the instance exists: its deletion does not wait for its destinations to drain.
    this.instanceLabel(spec.instanceId);
    this.disabled.delete(spec.id);
    this.waitingCounts.delete(spec.id);
    let initialized = Promise.resolve();
    if (this.gate?.needsLease(spec)) {
      const known = this.leased.get(spec.id);
      const destination = { spec, firstHead: known?.firstHead ?? this.head };
      this.leased.set(spec.id, destination);
      if (!known) {
        this.gate.changed();
        initialized = this.gate.initialize(destination).catch((error: unknown) => {
          this.log.warn({ err: error, destination: spec.id }, 'could not store the first cursor of a new destination; trying again at the next renewal');
        });
      }
      // A worker of it still stopping: the node starts the next one once it has (ClusterNode.startWorker).
      if (!this.gate.holds(spec.id) || this.stopping.has(spec.id)) return initialized;
    }
    const existing = this.workers.get(spec.id);
    if (existing) {
      existing.spec = spec;
      existing.wake();
    } else {
      this.startWorker(spec, this.head);
    }
    return initialized;
  }

  private startWorker(spec: DestinationSpec, firstHead: number): void {
    const leased = this.gate?.needsLease(spec) ?? false;
    const worker = new DestinationWorker(spec, this.store, this.ledger, this.log, {
      head: () => this.head,
      firstHead,
      onOutcome: (destination, outcome, event, attempt, state) => {
        // A relay's targets report their own outcomes: a hand-off is not a delivery, only its latency is observed (its failure is still logged).
        if (destination.relay && outcome.kind === 'delivered') return this.deliveryMetrics.latency(destination, this.latencyOf(event));
        this.reportOutcome(destination, outcome, event, attempt, state);
      },
      onFiltered: (destination, count) =>
        this.metrics.eventsFiltered.inc({ channel: destination.channel, instance_name: this.instanceLabel(destination.instanceId) }, count),
      writableUntil: () => (leased ? this.gate!.writableUntil(spec.id) : Infinity),
      leased,
    });
    this.workers.set(spec.id, worker);
    worker.wake();
  }

  /** Whether the destination is known (in cluster mode it may run on another node). */
  has(id: string): boolean {
    return this.workers.has(id) || this.leased.has(id);
  }

  /**
   * Stops a destination; with `forget`, its cursor and delivery records are deleted too, once a stop
   * already under way has saved its state (else that last save would write them back); with
   * `children` as well, those of the destinations `<id>:…` (a realtime feed's subscribers).
   */
  async remove(id: string, { forget = false, children = false } = {}): Promise<void> {
    const worker = this.workers.get(id);
    this.workers.delete(id);
    this.disabled.delete(id);
    this.waitingCounts.delete(id);
    if (this.leased.delete(id)) this.gate?.changed();
    this.deliveryLog.forget(id);
    if (worker) await this.stopWorker(id, worker);
    else await this.stopped(id);
    if (forget) await this.ledger.forget(id, { children });
  }

  /**
   * Stops a destination the configuration keeps, disabled: its cursor and delivery records stay in the
   * store, it stays known (its report, its dead letters, its lag gauge) until it is upserted again or removed.
   */
  async disable(destination: DisabledDestination): Promise<void> {
    this.instanceLabel(destination.instanceId);
    const removed = this.remove(destination.id);
    this.disabled.set(destination.id, destination);
    await removed;
  }

  /** The disabled destinations (every node knows them: their configuration is shared). */
  disabledDestinations(): DisabledDestination[] {
    return [...this.disabled.values()];
  }

  isDisabled(id: string): boolean {
    return this.disabled.has(id);
  }

  status(id: string): DestinationStatus | undefined {
    const status = this.workers.get(id)?.status();
    return status && { ...status };
  }

  /** The destination's status wherever it runs (cluster mode: read from the database when another node runs it). */
  async reportOf(id: string): Promise<DestinationReport> {
    return (await this.reportsOf([id]))[0] as DestinationReport;
  }

  /** The reports of these destinations (with one read of the database for those another node runs). */
  async reportsOf(ids: readonly string[]): Promise<DestinationReport[]> {
    const gate = this.gate;
    const remote = ids.filter((id) => !this.workers.has(id) && this.leased.has(id));
    const states = gate && remote.length ? await gate.elsewhere(remote) : new Map<string, LeasedDestinationState>();
    const figures = await this.figuresOf(ids.filter((id) => this.disabled.has(id)));
    // A destination created or restarted a moment ago has not read its cursor yet: its report waits for it.
    await Promise.all(ids.map((id) => this.workers.get(id)?.whenStarted()));
    return ids.map((id): DestinationReport => {
      const status = this.status(id);
      if (status) return { status, backlog: backlogOf(this.head, status.cursor, status.pending), ...(gate ? { node: gate.id } : {}) };
      const kept = figures.get(id);
      if (kept) return { status: undefined, backlog: this.backlogOfDisabled(kept), disabled: kept };
      const state = states.get(id);
      if (!gate || !state) return { status: undefined, backlog: 0 };
      const published = state.status === null ? undefined : (JSON.parse(state.status) as DestinationStatus);
      const cursor = state.cursor ?? published?.cursor;
      return {
        status: published && { ...published, cursor: cursor ?? published.cursor },
        // The cursor as stored now, the pending retries behind it as the node published them.
        backlog: cursor === undefined ? 0 : backlogOf(this.head, cursor, published?.pending),
        node: state.nodeId,
        asOf: state.statusAt,
      };
    });
  }

  /** Every destination's report: this node's, then (cluster mode) those other nodes run. */
  async allReports(): Promise<DestinationReport[]> {
    const remote = [...this.leased.keys()].filter((id) => !this.workers.has(id));
    return this.reportsOf([...this.workers.keys(), ...remote]);
  }

  /**
   * The ledgers' figures of these disabled destinations (one read of the store), once a stop under way
   * has written its last state (on a node alone; in cluster mode the node that ran it may still be writing it).
   */
  private async figuresOf(ids: readonly string[]): Promise<Map<string, DisabledFigures>> {
    if (!ids.length) return new Map();
    await Promise.all(ids.map((id) => this.stopped(id)));
    const head = this.head;
    const kept = await this.store.ledgerFigures(ids);
    const figures = new Map<string, DisabledFigures>();
    await Promise.all([...kept].map(async ([id, ledger]) => figures.set(id, { ...ledger, waiting: await this.waiting(id, ledger.cursor, head) })));
    return figures;
  }

  /**
   * The events of a disabled destination's instance past its cursor, through `head` (the other instances'
   * events, which it skips, are not owed): counted once, then only those appended since the last count,
   * so a scrape does not count a long backlog again.
   */
  private async waiting(id: string, cursor: number | undefined, head: number): Promise<number> {
    const instanceId = this.disabled.get(id)?.instanceId;
    if (cursor === undefined || instanceId === undefined) return 0;
    if (instanceId === null) return Math.max(0, head - cursor);
    const counted = this.waitingCounts.get(id);
    const from = counted && counted.cursor === cursor ? counted : { cursor, through: cursor, waiting: 0 };
    if (head <= from.through) return from.waiting;
    const waiting = from.waiting + (await this.store.countOfInstance(instanceId, from.through, head));
    if (this.disabled.has(id)) this.waitingCounts.set(id, { cursor, through: head, waiting });
    return waiting;
  }

  /** What a disabled destination owes: its instance's events past its stored cursor and its pending records (none when it never ran). */
  private backlogOfDisabled(figures: DisabledFigures): number {
    return figures.waiting + (figures.cursor === undefined ? 0 : figures.pending);
  }

  /**
   * Reads the disabled destinations' figures for `collect` (one read of the store for them all, before
   * each scrape): a disabled webhook's lag keeps its series, so an alert on it does not clear when it is
   * given up. On a failed read the figures of the previous scrape stay.
   */
  async readDisabledFigures(): Promise<void> {
    try {
      this.disabledFigures = await this.figuresOf([...this.disabled.keys()]);
    } catch (error) {
      this.log.warn({ err: error }, 'could not read the figures of the disabled destinations for /metrics');
    }
  }

  /** The instance a known destination delivers (null: every instance), wherever it runs. */
  instanceOf(id: string): string | null | undefined {
    return (this.workers.get(id)?.spec ?? this.leased.get(id)?.spec)?.instanceId;
  }

  /** Every known destination: those this node runs, and (cluster mode) those another node runs. */
  specs(): DestinationSpec[] {
    const remote = [...this.leased.values()].filter(({ spec }) => !this.workers.has(spec.id)).map(({ spec }) => spec);
    return [...[...this.workers.values()].map((worker) => worker.spec), ...remote];
  }

  /** When the oldest event the destination still has to deliver was appended (null: none). */
  oldestPendingAt(id: string): string | null {
    return this.workers.get(id)?.oldestPendingAt() ?? null;
  }

  /** The newest position of the log the dispatcher has heard of. */
  get headPosition(): number {
    return this.head;
  }

  /** A destination's cursor, without building its status (asked often, e.g. by realtime feeds). */
  cursor(id: string): number | undefined {
    return this.workers.get(id)?.settledThrough;
  }

  /** How far the destination's cursor is behind the log's head (the benchmarks wait for 0). */
  lag(id: string): number | undefined {
    const cursor = this.cursor(id);
    return cursor === undefined ? undefined : this.head - cursor;
  }

  /**
   * Sends events again to a destination; answers how many it queued. In cluster mode a destination
   * another node runs gets them through the database (that node replays them within moments).
   */
  async replay(id: string, events: readonly StoredEvent[]): Promise<number> {
    const worker = this.workers.get(id);
    if (worker) return worker.replay(events);
    if (this.gate && this.leased.has(id) && events.length) return this.gate.replayElsewhere(id, events);
    return 0;
  }

  /** Replays stored events by id: a replay another node asked for (cluster mode); 0 if it does not run here. */
  async replayByIds(id: string, eventIds: readonly string[]): Promise<number> {
    const worker = this.workers.get(id);
    if (!worker) return 0;
    return worker.replay(await this.store.getByIds(eventIds));
  }

  /** Resolves when the destination has nothing in flight or ready (tests, benchmarks, shutdown). */
  whenIdle(id: string): Promise<void> {
    return this.workers.get(id)?.whenIdle() ?? Promise.resolve();
  }

  /**
   * One attempt's outcome, for the delivery metrics and the operators' log: every destination reports
   * here, its workers' and the realtime subscribers (which acknowledge, time out and dead-letter
   * outside the workers). `attempt` is 1 for the first; `state` the circuit's after it, if it has one.
   */
  reportOutcome(destination: DestinationRef, outcome: Outcome, event: StoredEvent, attempt: number, state?: HealthState): void {
    // A retry with no attempts left is a dead letter: counted as `dead`, where alerts on dead letters look.
    this.deliveryMetrics.record(destination, givesUp(outcome, attempt, destination.retry) ? 'dead' : outcome.kind);
    if (outcome.kind === 'delivered' && !destination.relayed) this.deliveryMetrics.latency(destination, this.latencyOf(event));
    this.deliveryLog.outcome(destination, outcome, event, attempt, state);
  }

  /** A destination that reports its own outcomes (a realtime subscriber) left this node: the log's count of its failures goes too. */
  forgetOutcomes(id: string): void {
    this.deliveryLog.forget(id);
  }

  /** Seconds from the event's append to now. */
  private latencyOf(event: StoredEvent): number {
    return (Date.now() - msOfIso(event.createdAt)) / 1000;
  }

  /** Adds a source of destinations outside the workers to the gauges; answers its removal. */
  addGaugeSource(source: GaugeSource): () => void {
    this.gaugeSources.add(source);
    return () => void this.gaugeSources.delete(source);
  }

  /**
   * Refreshes the per-destination gauges (called on each /metrics scrape), labelled by channel and
   * instance name: removed destinations disappear; destinations of one channel and instance show
   * their largest backlog (positions past the cursor and pending retries behind it) and their retries summed;
   * disabled ones are counted too, from their figures as `readDisabledFigures` last read them.
   */
  collect(): void {
    this.deliveryMetrics.flush();
    const gauges = new Map<string, { channel: string; instance_name: string; lag: number; retrying: number }>();
    const add = (channel: string, instanceId: string | null, lag: number, retrying: number): void => {
      const instance_name = this.instanceLabel(instanceId);
      addUp(gauges, `${channel}\0${instance_name}`, () => ({ channel, instance_name, lag: 0, retrying: 0 }), lag, retrying);
    };
    for (const worker of this.workers.values()) {
      const status = worker.status();
      add(status.channel, worker.spec.instanceId, backlogOf(this.head, status.cursor, status.pending), status.retrying);
    }
    for (const { channel, instanceId, lag, retrying } of this.outsideFigures().values()) add(channel, instanceId, lag, retrying);
    // Disabled destinations owe what waits for them: their pending records count as retrying.
    for (const [id, figures] of this.disabledFigures) {
      const destination = this.disabled.get(id);
      if (destination) add(destination.channel, destination.instanceId, this.backlogOfDisabled(figures), figures.pending);
    }
    this.metrics.destinationLag.reset();
    this.metrics.destinationRetrying.reset();
    for (const { lag, retrying, ...labels } of gauges.values()) {
      this.metrics.destinationLag.set(labels, lag);
      this.metrics.destinationRetrying.set(labels, retrying);
    }
  }

  /**
   * The figures of the destinations outside the workers (`addGaugeSource`) by channel and instance,
   * as the gauges take them: the largest lag, the retries summed. Keyed by `figuresKey`.
   */
  outsideFigures(): Map<string, OutsideFigures> {
    const figures = new Map<string, OutsideFigures>();
    for (const source of this.gaugeSources) {
      source((channel, instanceId, lag, retrying) =>
        addUp(figures, figuresKey(channel, instanceId), () => ({ channel, instanceId, lag: 0, retrying: 0 }), lag, retrying),
      );
    }
    return figures;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await Promise.all([...this.workers.values()].map((worker) => worker.stop()));
    this.workers.clear();
  }
}
