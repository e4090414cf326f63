import type { Logger } from 'pino';
import type { DeliveryAttempt, DeliveryRecord, Store, StoredEvent } from '../store/types.ts';
import { isoTime } from '../core/iso-time.ts';
import { CircuitBreaker, type HealthState } from './circuit-breaker.ts';
import { DeliveryStats } from './delivery-stats.ts';
import { laneOf, leaseContext, type DestinationSpec, type SendContext } from './destination.ts';
import { Lane } from './lane.ts';
import { eventsByIds } from './dead-letters.ts';
import { deliveryRecord, type Ledger, type LedgerWriter } from './ledger-writer.ts';
import type { Outcome } from './outcome.ts';
import { givesUp, retryDelayMs } from './retry-policy.ts';
import { SettledPositions } from './settled-positions.ts';

/** Events held in memory per destination; beyond it the backlog waits in the store. */
const WINDOW = 10_000;
const READ_BATCH = 500;
/** Delivery records past the cursor loaded at once at start, and then as the reads reach them. */
const KNOWN_PAGE = WINDOW * 2;
const KEPT_ATTEMPTS = 20;

/**
 * Where an item comes from: read from the log past the cursor (`log`: it holds the cursor back until
 * settled), a replay, or a pending retry reloaded from the store at start (neither holds the cursor).
 */
type Origin = 'log' | 'replay' | 'reloaded';

interface Item {
  readonly event: StoredEvent;
  readonly lane: string;
  readonly origin: Origin;
  attempts: DeliveryAttempt[];
  tries: number;
  state: 'ready' | 'inflight' | 'waiting' | 'done';
  /** When a `waiting` item is due. */
  dueAt: number;
  /** Its pending record is written: its final state must be written too, to replace it. */
  pendingRecorded: boolean;
}

/**
 * What a destination is doing, derived from its data when asked (so it cannot disagree with it):
 * reading its backlog from the store, delivering, waiting for a retry, paused by its circuit breaker
 * until a probe may go, stopping, or idle (caught up with nothing to send).
 */
export type WorkerActivity =
  | { readonly kind: 'idle' }
  | { readonly kind: 'reading' }
  | { readonly kind: 'delivering'; readonly inFlight: number }
  | { readonly kind: 'waiting-retry'; readonly retrying: number; readonly nextAttemptAt: string }
  | { readonly kind: 'paused'; readonly probeAt: string | null }
  | { readonly kind: 'stopping' };

/**
 * The run loop: no run active (`idle`), one active (`active`), one active that was woken meanwhile and
 * goes round once more (`again`), or stopped for good. Runs are coalesced so that at most one is active.
 */
type RunState = 'idle' | 'active' | 'again' | 'stopped';

/** How far the worker has read the log: not started (cursor not loaded), behind the head, or caught up. */
type ReadState = 'unloaded' | 'behind' | 'caught-up';

/** Pending retries read from the store with their events, and where the next page of them starts (undefined: none). */
interface PendingPage {
  readonly retries: ReadonlyArray<{ event: StoredEvent; record: DeliveryRecord }>;
  readonly next: number | undefined;
}

export interface DestinationStatus {
  id: string;
  channel: string;
  instanceId: string | null;
  state: HealthState;
  consecutiveFailures: number;
  activity: WorkerActivity;
  /** Position in the log up to which everything is delivered or durably pending. */
  cursor: number;
  inFlight: number;
  /**
   * Events not delivered yet that failed at least once (or were reloaded as pending retries at start),
   * whatever holds them: their retry's time, a paused circuit breaker, or their request in flight again.
   */
  retrying: number;
  /**
   * Events at or behind the cursor not delivered yet: retries recorded as pending (the cursor passes
   * them) and replays. The events past the cursor are not in it: what the destination owes is both (see `backlogOf`).
   */
  pending: number;
  lastError: string | null;
  lastDeliveredAt: string | null;
  delivered: number;
  /** Attempts answered with a retry (since the start). */
  retried: number;
  /** Deliveries dead-lettered (since the start). */
  failed: number;
  /** Events its payload filter skipped (since the server started). */
  filtered: number;
}

export interface WorkerHooks {
  head(): number;
  /**
   * The log's head when the dispatcher first saw the destination: where one with `startAt: 'now'` and no
   * cursor yet starts. Taken then, not when the worker first runs (later, on the event loop): an instance
   * created with its channels has them from before its INSTANCE_CREATE, appended right after.
   */
  readonly firstHead: number;
  /** Every outcome, with the attempt it answered (1 for the first) and the circuit's state after it. */
  onOutcome(spec: DestinationSpec, outcome: Outcome, event: StoredEvent, attempt: number, state: HealthState | undefined): void;
  /** Events the destination's payload filter skipped, counted per read or offer. */
  onFiltered(spec: DestinationSpec, count: number): void;
  /**
   * Until when sends may start (ms since the epoch; cluster mode: while the node's lease is still surely
   * its own, Infinity otherwise). Asked right before each send: a node that ran again after a pause may
   * otherwise send before it learns that its lease expired meanwhile, behind the new holder's deliveries.
   */
  writableUntil(): number;
  /** Whether `writableUntil` depends on a lease (cluster mode): then channels ask it again right before writing (SendContext). */
  readonly leased?: boolean;
}

/**
 * The events a destination still owes: the log positions past its cursor, and the events behind it
 * not delivered yet (pending retries, replays). `pending` is absent in a status published by an older node.
 */
export function backlogOf(head: number, cursor: number, pending: number | undefined): number {
  return Math.max(0, head - cursor) + (pending ?? 0);
}

/** How soon a worker refused sends by `writableUntil` asks again (its node renews or drops its lease meanwhile). */
const SEND_RECHECK_MS = 100;

/**
 * Moves one destination through the log: reads what its filter accepts, hands lanes to its channel
 * with bounded concurrency, schedules retries, and writes its cursor and delivery records.
 */
export class DestinationWorker {
  private readPos = 0;
  private read: ReadState = 'unloaded';
  private run: RunState = 'idle';
  /** Positions read from the log and not yet settled: they bound the cursor. */
  private readonly positions = new SettledPositions();
  /** Writes the cursor and the delivery records (the cursor is the position it last wrote). */
  private readonly writer: LedgerWriter;
  /** The events read, replayed or reloaded and not finished yet, by position. */
  private readonly items = new Map<number, Item>();
  private readonly lanes = new Map<string, Lane<Item>>();
  private readonly readyLanes = new Set<string>();
  /** Per lane, its batches in flight (at most `spec.pipeline`), each resolving once its answers are settled. */
  private readonly laneSends = new Map<string, Promise<void>[]>();
  private readonly waiting = new Set<Item>();
  /** The destination's records past its cursor at start (a delivery log): those events are not read again. Loaded a page at a time, ahead of the reads. */
  private readonly known = new Map<number, string>();
  /** The records past the cursor are in `known` up to here (Infinity: all of them). */
  private knownThrough = Number.POSITIVE_INFINITY;
  /** Pending retries past this position are still to be reloaded from the store (more than a window of them); undefined: none. */
  private pendingAfter: number | undefined;
  private inflight = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  private readonly idle: Array<() => void> = [];
  /** Waiting for the worker's first run to end (`whenStarted`). */
  private readonly starting: Array<() => void> = [];
  private readonly circuit: CircuitBreaker | undefined;
  private readonly stats = new DeliveryStats();
  /** What a channel may ask while it sends (cluster mode only: outside it, every send may go). */
  private readonly sending: SendContext | undefined;
  /** Aborted when the worker stops: a lease it ran under may be another node's from then on. */
  private readonly leaseLost = new AbortController();

  constructor(
    public spec: DestinationSpec,
    private readonly store: Store,
    ledger: Ledger,
    private readonly log: Logger,
    private readonly hooks: WorkerHooks,
  ) {
    this.circuit = spec.circuit && new CircuitBreaker(spec.circuit);
    this.sending = hooks.leased ? leaseContext(hooks.writableUntil, this.leaseLost.signal) : undefined;
    this.writer = ledger.writer(
      spec.id,
      {
        // Records and cursor are written in one transaction, so the records queued so far count as settled.
        position: () => Math.max(this.positions.through(this.readPos), this.cursor),
        committed: (records) => this.committed(records),
      },
      { delayMs: spec.saveDelayMs ?? 5, inMemory: spec.inMemoryFrom !== undefined },
    );
  }

  /** Position in the log up to which everything is delivered or durably pending: the one last written. */
  private get cursor(): number {
    return this.writer.position ?? 0;
  }

  /** The cursor (what `status().cursor` says, without building the status). */
  get settledThrough(): number {
    return this.cursor;
  }

  status(): DestinationStatus {
    return {
      id: this.spec.id,
      channel: this.spec.channel,
      instanceId: this.spec.instanceId,
      state: this.circuit?.state ?? (this.stats.lastError && this.waiting.size ? 'failing' : 'healthy'),
      consecutiveFailures: this.circuit?.consecutiveFailures ?? 0,
      activity: this.activity(),
      cursor: this.cursor,
      inFlight: this.inflight,
      ...this.owed(),
      lastError: this.stats.lastError,
      lastDeliveredAt: this.stats.lastDeliveredAt,
      delivered: this.stats.delivered,
      retried: this.stats.retried,
      failed: this.stats.failed,
      filtered: this.stats.filtered,
    };
  }

  /** The items still to deliver that failed before (`retrying`), and those the cursor has passed (`pending`); see `DestinationStatus`. */
  private owed(): { retrying: number; pending: number } {
    const cursor = this.cursor;
    let retrying = 0;
    let pending = 0;
    for (const item of this.items.values()) {
      if (item.state === 'done') continue;
      if (item.tries > 0 || item.origin === 'reloaded') retrying++;
      if (item.event.pos <= cursor) pending++;
    }
    return { retrying, pending };
  }

  /** When the oldest event still to deliver (in flight, waiting for a retry or ready) was appended. */
  oldestPendingAt(): string | null {
    let oldest: string | null = null;
    // Replays and reloaded retries sit out of log order in `items`: every item is looked at.
    for (const item of this.items.values()) {
      if (item.state !== 'done' && (oldest === null || item.event.createdAt < oldest)) oldest = item.event.createdAt;
    }
    return oldest;
  }

  private activity(): WorkerActivity {
    if (this.run === 'stopped') return { kind: 'stopping' };
    if (this.inflight > 0) return { kind: 'delivering', inFlight: this.inflight };
    if (this.read !== 'caught-up') return { kind: 'reading' };
    const probe = this.circuit?.msUntilProbe() ?? 0;
    if (probe > 0) return { kind: 'paused', probeAt: Number.isFinite(probe) ? isoTime(Date.now() + probe) : null };
    if (this.waiting.size) {
      let next = Number.POSITIVE_INFINITY;
      for (const item of this.waiting) next = Math.min(next, item.dueAt);
      return { kind: 'waiting-retry', retrying: this.waiting.size, nextAttemptAt: isoTime(next) };
    }
    return this.readyLanes.size ? { kind: 'delivering', inFlight: 0 } : { kind: 'idle' };
  }

  /** Read as a method, not narrowed: a stop comes during the awaits of a run. */
  private get stopped(): boolean {
    return this.run === 'stopped';
  }

  /** Wakes the worker; runs are coalesced so that at most one is active. */
  wake(): void {
    if (this.run === 'idle') {
      this.run = 'active';
      setImmediate(() => void this.runOnce());
    } else if (this.run === 'active') this.run = 'again';
  }

  private async runOnce(): Promise<void> {
    try {
      do {
        // Stopped before it started (a shutdown right after boot, a lease lost just after it was taken).
        if (this.stopped) return;
        if (this.read === 'unloaded') {
          await this.start();
          this.resolveStarting();
        }
        if (this.pendingAfter !== undefined && this.roomToRead) await this.reloadPending(this.pendingAfter);
        if (this.read === 'behind' && this.roomToRead) await this.fill();
        this.dispatch();
      } while (this.goAgain());
    } catch (error) {
      this.stats.lastError = `store: ${(error as Error).message}`;
      this.log.error({ err: error, destination: this.spec.id }, 'destination worker failed; retrying in 1s');
      this.arm(1000);
    } finally {
      if (this.run !== 'stopped') this.run = 'idle';
      this.armForNextDue();
      if (this.quiet) this.resolveIdle();
      this.resolveStarting();
    }
  }

  /** Whether the active run was woken meanwhile: then it goes round once more. */
  private goAgain(): boolean {
    if (this.run !== 'again') return false;
    this.run = 'active';
    return true;
  }

  /**
   * Whether to read more of the backlog now: once a read's worth of the window is free, or whatever
   * is free when nothing is ready or in flight. A full window refilled as each send settled read the
   * log a few rows at a time (a 20,000-event backlog took some 700 queries of about 30 rows, each with
   * its statement's fixed cost); the window stays as large, and a destination never idles while
   * room is left.
   */
  private get roomToRead(): boolean {
    const free = WINDOW - this.items.size;
    return free >= READ_BATCH || (free > 0 && this.inflight === 0 && this.readyLanes.size === 0);
  }

  /** Nothing in flight or ready and the log read to its head (retries may still wait). */
  private get quiet(): boolean {
    return this.inflight === 0 && this.read === 'caught-up' && this.readyLanes.size === 0;
  }

  /**
   * Loads the cursor, the pending retries and the records past the cursor. Everything is read before
   * the worker's state changes: a read that fails leaves it unloaded, to start again from scratch (a
   * retry reloaded twice would be sent twice); a stop meanwhile leaves the stored state untouched.
   */
  private async start(): Promise<void> {
    const saved = this.spec.inMemoryFrom ?? (await this.store.getCursor(this.spec.id));
    const from = saved ?? (this.spec.startAt === 'now' ? this.hooks.firstHead : 0);
    const pending = await this.pendingPage(0, WINDOW);
    const later = this.spec.record === 'all' ? await this.store.listDeliveries({ destination: this.spec.id, afterPos: from, limit: KNOWN_PAGE }) : [];
    if (this.stopped) return;
    if (saved === undefined) await this.writer.begin(from);
    else this.writer.loaded(saved);
    if (this.stopped) return;
    this.readPos = this.cursor;
    this.reload(pending);
    this.know(later);
    this.read = 'behind';
  }

  /**
   * Up to `limit` pending retries past position `after`, with their events (read in pages, not one query
   * each; a record whose event is gone is left out), and where the next page starts (undefined: none).
   */
  private async pendingPage(after: number, limit: number): Promise<PendingPage> {
    const records = await this.store.listDeliveries({ destination: this.spec.id, status: 'pending', afterPos: after, limit });
    const events = new Map((await eventsByIds(this.store, records.map((record) => record.eventId))).map((event) => [event.id, event]));
    return {
      retries: records.flatMap((record) => {
        const event = events.get(record.eventId);
        return event ? [{ event, record }] : [];
      }),
      next: records.length < limit ? undefined : (records.at(-1) as DeliveryRecord).pos,
    };
  }

  /** Takes in a page of pending retries, each due when its record says. */
  private reload({ retries, next }: PendingPage): void {
    for (const { event, record } of retries) {
      if (this.items.has(event.pos)) continue;
      const item = this.add(event, 'reloaded');
      item.attempts = record.attempts;
      // The record keeps the last KEPT_ATTEMPTS attempts: the last one's number is the count (records from before numbers, their length).
      item.tries = record.attempts.at(-1)?.number ?? record.attempts.length;
      item.pendingRecorded = true;
      this.park(item, record.nextAttemptAt ?? Date.now());
    }
    this.pendingAfter = next;
  }

  /** The next pending retries past `pendingAfter`, as many as the window has room for. */
  private async reloadPending(after: number): Promise<void> {
    const page = await this.pendingPage(after, WINDOW - this.items.size);
    if (!this.stopped) this.reload(page);
  }

  /** Takes in a page of records past the cursor (in position order). */
  private know(records: readonly DeliveryRecord[]): void {
    for (const record of records) this.known.set(record.pos, record.status);
    this.knownThrough = records.length < KNOWN_PAGE ? Number.POSITIVE_INFINITY : (records.at(-1) as DeliveryRecord).pos;
  }

  /** Reads the next part of the backlog from the store. */
  private async fill(): Promise<void> {
    // While pending retries past `pendingAfter` wait in the store, the log is read only up to there:
    // a chat's later events never overtake its retry.
    const head = Math.min(this.hooks.head(), this.pendingAfter ?? Number.POSITIVE_INFINITY);
    if (this.readPos >= head) {
      if (this.pendingAfter === undefined) this.read = 'caught-up';
      return;
    }
    const limit = Math.min(READ_BATCH, WINDOW - this.items.size);
    const events = await this.store.read({
      afterPos: this.readPos,
      untilPos: head,
      limit,
      ...(this.spec.instanceId ? { instanceId: this.spec.instanceId } : {}),
      ...(this.spec.events ? { events: [...this.spec.events] } : {}),
    });
    const last = events.at(-1);
    // The records of this page's positions, before they are checked (a long delivery log is loaded as the reads reach it).
    while (last && last.pos > this.knownThrough) this.know(await this.store.listDeliveries({ destination: this.spec.id, afterPos: this.knownThrough, limit: KNOWN_PAGE }));
    let skipped = 0;
    for (const event of events) {
      if (this.spec.filter && !this.spec.filter(event)) skipped++;
      else if (!this.known.has(event.pos) && !this.items.has(event.pos)) this.add(event, 'log');
    }
    this.countFiltered(skipped);
    this.readPos = events.length < limit || !last ? head : last.pos;
    // Records behind the reads are done with (they were loaded in position order).
    for (const pos of this.known.keys()) {
      if (pos > this.readPos) break;
      this.known.delete(pos);
    }
    // Against the head as it is now: events committed during the read were offered while the worker was
    // behind, so it dropped them; caught up at the older head, it would wait for another append to read them.
    if (this.readPos >= this.hooks.head() && this.pendingAfter === undefined) this.read = 'caught-up';
    else if (this.run === 'active') this.run = 'again';
    this.writer.schedule();
  }

  /**
   * Takes freshly committed events directly when caught up, sparing a read of the store: `events` holds
   * every event of the destination's instance after `previousHead`, through `head`.
   */
  offer(events: readonly StoredEvent[], previousHead: number, head: number): void {
    if (this.read !== 'caught-up' || this.readPos !== previousHead || this.items.size + events.length > WINDOW) {
      if (this.read === 'caught-up') this.read = 'behind';
      this.wake();
      return;
    }
    let skipped = 0;
    for (const event of events) {
      if (!this.accepts(event)) continue;
      if (this.spec.filter && !this.spec.filter(event)) skipped++;
      else this.add(event, 'log');
    }
    this.countFiltered(skipped);
    this.readPos = head;
    this.writer.schedule();
    this.wake();
  }

  private accepts(event: StoredEvent): boolean {
    if (this.spec.instanceId && event.instanceId !== this.spec.instanceId) return false;
    return !this.spec.events || this.spec.events.has(event.event);
  }

  private countFiltered(count: number): void {
    if (count === 0) return;
    this.stats.filtered += count;
    this.hooks.onFiltered(this.spec, count);
  }

  /** Delivers these events again (a replay), whatever their earlier outcome. */
  async replay(events: readonly StoredEvent[]): Promise<number> {
    // Final records still waiting for the next save are written first, so that they cannot overwrite
    // the pending records of this replay; a delivery that just finished is replayed, one in flight or
    // waiting for its retry is not.
    await this.writer.flush();
    let replayed = 0;
    for (const event of events) {
      if (this.items.has(event.pos)) continue;
      const item = this.add(event, 'replay');
      this.writer.queue(this.record(item, 'pending', Date.now()));
      replayed++;
    }
    await this.writer.flush();
    this.wake();
    return replayed;
  }

  private add(event: StoredEvent, origin: Origin): Item {
    const item: Item = {
      event,
      lane: laneOf(event, this.spec.ordering),
      origin,
      attempts: [],
      tries: 0,
      state: 'ready',
      dueAt: 0,
      pendingRecorded: false,
    };
    this.items.set(event.pos, item);
    if (origin === 'log') this.positions.add(event.pos);
    let lane = this.lanes.get(item.lane);
    if (!lane) {
      lane = new Lane<Item>();
      this.lanes.set(item.lane, lane);
    }
    lane.insert(item);
    if (lane.at(0) === item || this.pipelined) this.readyLanes.add(item.lane);
    return item;
  }

  private maySend(): boolean {
    return !this.hooks.leased || Date.now() < this.hooks.writableUntil();
  }

  /** Starts as many sends as the concurrency limit and the circuit breaker allow. */
  private dispatch(): void {
    if (this.run === 'stopped' || !this.maySend()) return;
    let allowance = this.spec.maxInFlight - this.inflight;
    if (allowance <= 0 || this.readyLanes.size === 0) return;
    if (this.circuit) allowance = this.circuit.allowance(allowance);
    // Paused, and sends allowed all the same: the one probe.
    const probe = this.circuit?.state === 'paused' && allowance > 0;
    let sent = 0;
    for (const laneKey of this.readyLanes) {
      if (allowance <= 0) break;
      this.readyLanes.delete(laneKey);
      const batch = this.nextBatch(laneKey);
      if (!batch.length) continue;
      allowance--;
      sent++;
      void this.send(batch);
      // A pipelined lane may send its next batch before this one is answered: visit it again.
      if (this.pipelined) this.readyLanes.add(laneKey);
    }
    // A pipelined lane stays ready while its head waits for a retry: a probe granted for it went unused.
    if (probe && sent === 0) this.circuit?.probeUnused();
  }

  private get pipelined(): boolean {
    return (this.spec.pipeline ?? 1) > 1;
  }

  /** The ready events that follow the lane's batches in flight, if the lane may send one more batch. */
  private nextBatch(laneKey: string): Item[] {
    const lane = this.lanes.get(laneKey);
    const batch: Item[] = [];
    // A lane whose head failed before sends one batch at a time until the head gets through: a batch sent
    // beside a retry that fails again (the destination coming back just then) would go twice.
    const depth = lane?.at(0)?.tries ? 1 : (this.spec.pipeline ?? 1);
    const full = this.pipelined ? (this.laneSends.get(laneKey)?.length ?? 0) >= depth : lane?.at(0)?.state !== 'ready';
    if (!lane || full) return batch;
    for (let index = 0; index < lane.size; index++) {
      const item = lane.at(index) as Item;
      if (item.state === 'inflight' && batch.length === 0) continue;
      if (item.state !== 'ready' || batch.length >= this.spec.maxBatch) break;
      item.state = 'inflight';
      batch.push(item);
    }
    return batch;
  }

  /** Whether a failure holds back what follows it in its lane (see `DestinationSpec.ordered`). */
  private get ordered(): boolean {
    return this.spec.ordered ?? this.spec.ordering !== 'none';
  }

  /** Whether an earlier event of the batch's lane failed while the batch was in flight (pipelined lanes). */
  private behindFailure(first: Item): boolean {
    if (!this.pipelined || !this.ordered) return false;
    const lane = this.lanes.get(first.lane);
    for (let index = 0; lane && index < lane.size; index++) {
      const item = lane.at(index) as Item;
      if (item === first) return false;
      if (item.state !== 'inflight') return true;
    }
    return false;
  }

  private async send(batch: Item[]): Promise<void> {
    const laneKey = batch[0]?.lane ?? '';
    const turn = this.pipelined ? this.takeTurn(laneKey) : undefined;
    this.inflight++;
    const startedAt = Date.now();
    let outcomes: Outcome[];
    try {
      const deliveries = batch.map((item) => ({ event: item.event, previousAttempts: item.tries }));
      outcomes = await this.spec.send(deliveries, this.sending);
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      outcomes = batch.map(() => ({ kind: 'retry', error: message }) as Outcome);
    }
    // A pipelined lane settles its batches in send order: answers that come early wait for the earlier batch.
    if (turn?.previous) await turn.previous;
    try {
      this.settleBatch(batch, outcomes, startedAt);
    } finally {
      this.inflight--;
      turn?.done();
    }
    const head = this.lanes.get(laneKey)?.at(0);
    if (head?.state === 'ready' || (head && this.pipelined)) this.readyLanes.add(laneKey);
    this.writer.schedule();
    this.wake();
  }

  /**
   * A pipelined batch's place in its lane: the batch before it, and what lets the next one settle.
   * Only pipelined lanes keep this (a promise per batch), as most destinations send one batch per lane.
   */
  private takeTurn(laneKey: string): { previous: Promise<void> | undefined; done(): void } {
    const sends = this.laneSends.get(laneKey) ?? [];
    const previous = sends.at(-1);
    let release = () => {};
    sends.push(new Promise<void>((resolve) => (release = resolve)));
    this.laneSends.set(laneKey, sends);
    return {
      previous,
      done: () => {
        sends.shift();
        if (!sends.length && this.laneSends.get(laneKey) === sends) this.laneSends.delete(laneKey);
        release();
      },
    };
  }

  private settleBatch(batch: Item[], outcomes: Outcome[], startedAt: number): void {
    const durationMs = Date.now() - startedAt;
    let blocked = batch[0] !== undefined && this.behindFailure(batch[0]);
    batch.forEach((item, index) => {
      if (blocked) {
        // An ordered lane stops at its first failure: what follows goes again after it.
        item.state = 'ready';
        return;
      }
      const outcome = outcomes[index] ?? { kind: 'retry', error: 'the channel gave no outcome' };
      this.settle(item, outcome, startedAt, durationMs);
      blocked = outcome.kind === 'retry' && this.ordered;
    });
  }

  private settle(item: Item, outcome: Outcome, startedAt: number, durationMs: number): void {
    // An attempt is kept only where a record can show it: a failure, a retry, a delivery log.
    if (outcome.kind !== 'delivered' || this.recorded(item)) {
      const attempt: DeliveryAttempt = { number: item.tries + 1, at: isoTime(startedAt), durationMs, ...outcome.attempt };
      if (outcome.kind === 'retry') attempt.error ??= outcome.error;
      if (outcome.kind === 'dead') attempt.error ??= outcome.reason;
      item.attempts = item.attempts.length ? [...item.attempts, attempt].slice(-KEPT_ATTEMPTS) : [attempt];
    }
    item.tries++;
    if (outcome.kind === 'delivered') this.circuit?.succeeded();
    else if (outcome.kind === 'retry') this.circuit?.failed();
    this.hooks.onOutcome(this.spec, outcome, item.event, item.tries, this.circuit?.state);
    const gaveUp = givesUp(outcome, item.tries, this.spec.retry);
    this.stats.count(outcome, gaveUp);
    if (outcome.kind === 'delivered') this.finish(item, 'delivered');
    else if (gaveUp) this.finish(item, 'failed');
    else if (outcome.kind === 'retry') {
      const due = Date.now() + retryDelayMs(outcome, item.tries, this.spec.retry);
      this.park(item, due);
      // A retry recorded as pending lets the cursor pass: the record goes in the same write as the cursor.
      // One that has a pending record already (a replay, a reloaded retry) keeps it current whatever the
      // destination records, or a restart would count its attempts from the replay again.
      if (this.recorded(item)) this.queueRecord(item, 'pending', due);
    }
  }

  private park(item: Item, dueAt: number): void {
    item.state = 'waiting';
    item.dueAt = dueAt;
    this.waiting.add(item);
  }

  /** The item is delivered or given up: its final record (a dead letter, a delivery log's) is queued, and it leaves the window. */
  private finish(item: Item, status: 'delivered' | 'failed'): void {
    item.state = 'done';
    if (this.items.get(item.event.pos) === item) this.items.delete(item.event.pos);
    this.waiting.delete(item);
    if (status === 'failed' || this.recorded(item)) this.writer.queue(this.record(item, status, null));
    if (item.origin === 'log') this.positions.settle(item.event.pos);
    const lane = this.lanes.get(item.lane);
    if (!lane) return;
    const wasHead = lane.at(0) === item;
    lane.remove(item);
    if (!lane.size) this.lanes.delete(item.lane);
    else if (wasHead && lane.at(0)?.state === 'ready') this.readyLanes.add(item.lane);
  }

  /** Whether the item's final state is written: always for a delivery log, and where a pending record must be replaced (a replay, a reloaded retry). */
  private recorded(item: Item): boolean {
    return this.spec.record === 'all' || item.origin !== 'log' || item.pendingRecorded;
  }

  /** Queues a pending record for the next save; from then on the item does not hold the cursor back. */
  private queueRecord(item: Item, status: 'pending', nextAttemptAt: number): void {
    this.writer.queue(this.record(item, status, nextAttemptAt));
    if (item.origin === 'log') this.positions.settle(item.event.pos);
  }

  private record(item: Item, status: DeliveryRecord['status'], nextAttemptAt: number | null): DeliveryRecord {
    return deliveryRecord(this.spec.id, item.event, status, item.attempts, nextAttemptAt);
  }

  /** A save committed: the items whose pending records it wrote must have their final state written too. */
  private committed(records: readonly DeliveryRecord[]): void {
    for (const record of records) {
      if (record.status !== 'pending') continue;
      const item = this.items.get(record.pos);
      if (item) item.pendingRecorded = true;
    }
  }

  /** Moves due retries back to ready, and arms a timer for the next one (or for the circuit's probe). */
  private armForNextDue(): void {
    if (this.run === 'stopped') return;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const item of this.waiting) {
      if (item.dueAt <= now) {
        this.waiting.delete(item);
        item.state = 'ready';
        if (this.lanes.get(item.lane)?.at(0) === item) this.readyLanes.add(item.lane);
      } else next = Math.min(next, item.dueAt);
    }
    if (this.readyLanes.size && this.inflight < this.spec.maxInFlight) {
      const probe = this.maySend() ? (this.circuit?.msUntilProbe(now) ?? 0) : SEND_RECHECK_MS;
      if (probe === 0) return this.wake();
      next = Math.min(next, now + probe);
    }
    if (Number.isFinite(next)) this.arm(next - now);
  }

  private arm(ms: number): void {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => this.wake(), Math.max(1, Math.min(ms, 2 ** 31 - 1)));
    this.wakeTimer.unref();
  }

  /** Resolves once nothing is in flight or ready (used by shutdown and tests). */
  whenIdle(): Promise<void> {
    if (this.quiet) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private resolveIdle(): void {
    for (const resolve of this.idle.splice(0)) resolve();
  }

  /**
   * Resolves once the worker has read its cursor from the store (or a run failed to, and tries again
   * later), or it stopped: until then its status counts the whole log as its backlog.
   */
  whenStarted(): Promise<void> {
    if (this.read !== 'unloaded' || this.run === 'idle' || this.run === 'stopped') return Promise.resolve();
    return new Promise((resolve) => this.starting.push(resolve));
  }

  private resolveStarting(): void {
    for (const resolve of this.starting.splice(0)) resolve();
  }

  /** Stops sending, waits up to `graceMs` for sends in flight, and saves the state. */
  async stop(graceMs = 5000): Promise<void> {
    this.run = 'stopped';
    this.resolveStarting();
    this.leaseLost.abort();
    clearTimeout(this.wakeTimer);
    const deadline = Date.now() + graceMs;
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // Nothing loaded, so nothing sent: a save would write position 0 over the stored cursor.
    await this.writer.stop({ save: this.read !== 'unloaded' });
  }
}
