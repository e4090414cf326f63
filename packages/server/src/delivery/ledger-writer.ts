import type { Logger } from 'pino';
import { LeaseLostError } from '../store/lease-lost-error.ts';
import type { DeliveryAttempt, DeliveryLedger, DeliveryRecord, StoredEvent } from '../store/types.ts';

/** What a writer asks of the destination it writes for. */
export interface LedgerOwner {
  /**
   * The position to save, asked as each save starts: every event up to it is settled, the records
   * queued so far counting as settled (they commit in the same write).
   */
  position(): number;
  /** A save committed these records, and the position it asked. */
  committed?(records: readonly DeliveryRecord[]): void;
}

export interface WriterOptions {
  /** Saves by itself this long after `schedule`; without it the owner saves when it wants (`flush`). */
  readonly delayMs?: number;
  /** The position is kept in memory only, records are written (a realtime feed: each node runs its own from its start). */
  readonly inMemory?: boolean;
}

/** No delay, position written: the owner saves when it wants (a realtime subscriber: thousands share this object). */
const OWNER_SAVES: WriterOptions = Object.freeze({});

/** A delivery record: the state of one event for one destination, with its attempts. */
export function deliveryRecord(
  destination: string,
  event: StoredEvent,
  status: DeliveryRecord['status'],
  attempts: DeliveryAttempt[],
  nextAttemptAt: number | null = null,
): DeliveryRecord {
  return { destination, pos: event.pos, eventId: event.id, instanceId: event.instanceId, event: event.event, status, attempts, nextAttemptAt };
}

/**
 * Where delivery state is written: every destination's position in the log and its delivery records
 * (pending retries, dead letters, a delivery log). Dispatcher workers and realtime subscribers write
 * through it; nothing else calls the store's delivery writes (test/unit/layering.test.ts says so for
 * channels). The store commits the writes made in one tick together, whatever their destination, and
 * writers that save by themselves save on one shared timer per delay: a node commits its destinations'
 * progress in one transaction per delay, not one per destination.
 */
export class Ledger {
  /** Per delay, the writers that save when its timer fires. */
  private readonly due = new Map<number, Set<LedgerWriter>>();

  constructor(
    readonly store: DeliveryLedger,
    readonly log: Logger,
  ) {}

  /** Saves the writer with the others due within `delayMs` (it was scheduled, or failed and will try again). */
  saveWithin(writer: LedgerWriter, delayMs: number): void {
    let writers = this.due.get(delayMs);
    if (!writers) {
      const group = (writers = new Set());
      this.due.set(delayMs, group);
      setTimeout(() => {
        this.due.delete(delayMs);
        for (const member of group) member.due();
      }, delayMs);
    }
    writers.add(writer);
  }

  /** The writer of one destination. */
  writer(destination: string, owner: LedgerOwner, options: WriterOptions = OWNER_SAVES): LedgerWriter {
    return new LedgerWriter(this, destination, owner, options);
  }

  /** Deletes a destination's position and records; with `children`, those of `<destination>:…` too (a realtime feed's subscribers). */
  forget(destination: string, options?: { children?: boolean }): Promise<void> {
    return this.store.deleteDestination(destination, options);
  }
}

/**
 * The one writer of a destination's delivery state. Records are queued and committed with the
 * position in one write; saves go one at a time, so a position is never written before the records it
 * counted on; a failed save hands its records back to the next one (after `delayMs`, or the owner's
 * next `flush`). A stopped writer saves once more and never again (in cluster mode a refusal is a
 * lost lease: the next holder resends what was not saved).
 */
export class LedgerWriter {
  /** The last position written (undefined: none yet). */
  private saved: number | undefined;
  private queued: DeliveryRecord[] | undefined;
  private saving: Promise<unknown> | undefined;
  /** A save is due on the ledger's timer. */
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly ledger: Ledger,
    readonly destination: string,
    private readonly owner: LedgerOwner,
    private readonly options: WriterOptions,
  ) {}

  /** The position last written, or read from the store (`loaded`). */
  get position(): number | undefined {
    return this.saved;
  }

  /** Whether a save would write something: a record is queued, or the owner's position moved. */
  get moved(): boolean {
    return this.queued !== undefined || this.owner.position() !== this.saved;
  }

  /** The position the store holds (read at start): nothing to write until it moves. */
  loaded(position: number | undefined): void {
    this.saved = position;
  }

  /** Queues a record for the next save (and schedules it). */
  queue(record: DeliveryRecord): void {
    (this.queued ??= []).push(record);
    this.schedule();
  }

  /** Saves within `delayMs` from now, unless a save is scheduled already (writers without a delay wait for `flush`). */
  schedule(): void {
    if (this.scheduled || this.stopped || this.options.delayMs === undefined) return;
    this.scheduled = true;
    this.ledger.saveWithin(this, this.options.delayMs);
  }

  /**
   * Writes the queued records and the owner's position now. Never rejects: resolves with the error of
   * a save that failed (logged, unless it is a lost lease, which the owner acts on), else undefined.
   */
  async flush(): Promise<unknown> {
    this.scheduled = false;
    // One save at a time: the position a save asks for counts records queued so far, which a save
    // still in progress may hand back on failure; waiting for it keeps the position behind them.
    while (this.saving) await this.saving;
    const save = this.save();
    this.saving = save;
    try {
      return await save;
    } finally {
      this.saving = undefined;
    }
  }

  /** The ledger's timer for this writer's delay fired: it saves, unless it stopped meanwhile. */
  due(): void {
    if (!this.stopped) void this.flush();
  }

  /** Saves a last time (unless `save` is false: its owner has nothing of its own to write); later changes are not written. */
  async stop({ save = true } = {}): Promise<void> {
    this.stopped = true;
    if (save) await this.flush();
  }

  private async save(): Promise<unknown> {
    // The stop's own save is the last; one that was under way when the stop came is followed by it.
    const last = this.stopped;
    const records = this.queued ?? [];
    const position = this.owner.position();
    if (!records.length && position === this.saved) return undefined;
    this.queued = undefined;
    try {
      if (!this.options.inMemory) await this.ledger.store.saveDeliveries(this.destination, records, position);
      else if (records.length) await this.ledger.store.saveDeliveries(this.destination, records);
      this.saved = position;
      this.owner.committed?.(records);
      return undefined;
    } catch (error) {
      if (records.length) this.queued = this.queued ? [...records, ...this.queued] : records;
      this.failed(error, records.length, last);
      return error;
    }
  }

  private failed(error: unknown, unsaved: number, last: boolean): void {
    const { log } = this.ledger;
    if (last && error instanceof LeaseLostError) {
      // Cluster mode: the lease went to another node, which delivers from the last cursor saved here.
      log.info({ destination: this.destination, unsaved }, 'delivery state not saved at stop: the lease is held elsewhere now, which resends what was not saved');
      return;
    }
    if (last) {
      const message = 'could not save delivery state at stop; not retried: events past the saved cursor will be delivered again';
      log.error({ err: error, destination: this.destination, unsaved }, message);
      return;
    }
    // Cluster mode: another node holds the destination now; its owner hears of it and stops.
    if (!(error instanceof LeaseLostError)) log.error({ err: error, destination: this.destination }, 'could not save delivery state; will retry');
    this.schedule();
  }

  /** Writes a new destination's first position at once (before anything is sent past it). */
  async begin(position: number): Promise<void> {
    while (this.saving) await this.saving;
    if (!this.options.inMemory) await this.ledger.store.saveDeliveries(this.destination, [], position);
    this.saved = position;
  }
}
