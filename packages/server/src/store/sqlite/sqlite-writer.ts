import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { newEventId } from '../../core/ids.ts';
import { EVENT_COLUMNS, type EventTuple, type InstanceHead } from '../sql-rows.ts';
import { NUMBERS_PER_EVENT, type EncodedAppends, type LedgerWrite, type RoundOutcome, type ToWriter } from './writer-messages.ts';

/**
 * The SQLite store's writer, on a thread of its own with its own connection: the inserts, index
 * updates and fsyncs of appends and of the delivery ledger run here, off the event loop that serves
 * HTTP and dispatches (WAL lets the store's thread read meanwhile). Started by SqliteStore.
 */
export interface WriterOptions {
  file: string;
  fullSync: boolean;
}

/** Delivery records written by one statement: a statement for many rows costs a third less per row than one each. */
const UPSERT_ROWS = 64;
const DELIVERY_COLUMNS = 9;

function upsertDeliveriesSql(rows: number): string {
  const values = Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
  return `INSERT INTO deliveries (destination, pos, event_id, instance_id, event, status, attempts, next_attempt_at, updated_at)
    VALUES ${values}
    ON CONFLICT (destination, pos) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
      next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at`;
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

class SqliteWriter {
  private readonly db: Database.Database;
  private readonly statements;
  private readonly writeAppends: (appends: EncodedAppends, outcome: RoundOutcome) => void;
  private readonly writeLedger: (writes: readonly LedgerWrite[], now: number) => void;
  /** The time of the newest event: times never go back along the log, even when the clock does. */
  private lastCreatedAt: number;

  constructor(private readonly options: WriterOptions) {
    // The store's thread has opened the file (WAL, migrations) before starting this one.
    this.db = new Database(options.file);
    this.db.pragma(`synchronous = ${options.fullSync ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.statements = {
      head: this.db.prepare<[string], { last_seq: number; owner_jid: string | null; name: string }>('SELECT last_seq, owner_jid, name FROM instances WHERE id = ?'),
      setLastSeq: this.db.prepare<[number, string]>('UPDATE instances SET last_seq = ? WHERE id = ?'),
      byProducer: this.db.prepare<[string, string], EventTuple>(`SELECT ${EVENT_COLUMNS} FROM events WHERE instance_id = ? AND producer_id = ?`).raw(),
      insertEvent: this.db.prepare<[string, string, string, number, string, string, string | null, string | null, number, string | null]>(
        `INSERT INTO events (id, instance_id, instance, seq, event, data, sender, producer_id, created_at, extra)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      setCursor: this.db.prepare(
        `INSERT INTO cursors (destination, pos, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (destination) DO UPDATE SET pos = excluded.pos, updated_at = excluded.updated_at`,
      ),
      upsertDelivery: this.db.prepare(upsertDeliveriesSql(1)),
      upsertDeliveries: this.db.prepare(upsertDeliveriesSql(UPSERT_ROWS)),
    };
    // Transaction wrappers made once (one per commit was garbage).
    this.writeAppends = this.db.transaction((appends: EncodedAppends, outcome: RoundOutcome) => this.appendCalls(appends, outcome));
    this.writeLedger = this.db.transaction((writes: readonly LedgerWrite[], now: number) => this.upsertLedger(writes, now));
    // A key lookup, not a scan.
    this.lastCreatedAt = this.db.prepare<[], { t: number }>('SELECT created_at AS t FROM events ORDER BY pos DESC LIMIT 1').get()?.t ?? 0;
  }

  /** A round: its appends in one commit (a promise resolves only after its events are durable), then its ledger writes in another. */
  commit(appends: EncodedAppends, ledger: readonly LedgerWrite[]): { outcome: RoundOutcome; transfer: ArrayBuffer[] } {
    const total = appends.data.length;
    const outcome: RoundOutcome = { numbers: new Float64Array(total * NUMBERS_PER_EVENT), ids: new Array<string>(total).fill(''), heads: [], duplicates: [], refused: [] };
    if (appends.sizes.length) {
      try {
        this.writeAppends(appends, outcome);
      } catch (error) {
        outcome.appendFailure = message(error);
      }
    }
    if (ledger.length) {
      try {
        this.commitLedger(ledger);
      } catch (error) {
        outcome.ledgerFailure = message(error);
      }
    }
    return { outcome, transfer: [outcome.numbers.buffer as ArrayBuffer] };
  }

  close(): void {
    this.db.close();
  }

  /** Each caller's requests, then the sequences they moved (inside `writeAppends`'s transaction). */
  private appendCalls(appends: EncodedAppends, outcome: RoundOutcome): void {
    const heads = new Map<string, InstanceHead>();
    let first = 0;
    appends.sizes.forEach((size, caller) => {
      const refused = this.appendCall(appends, first, first + size, heads, outcome);
      if (refused) outcome.refused.push([caller, refused]);
      first += size;
    });
    for (const [id, head] of heads) {
      if (head.lastSeq !== head.storedSeq) this.statements.setLastSeq.run(head.lastSeq, id);
      outcome.heads.push([id, head.name, head.ownerJid]);
    }
  }

  /**
   * One caller's requests (`first` to `end` of the round), all or nothing, inside the shared
   * transaction. An unknown instance is found before the first write (data was checked on the store's
   * thread), so a caller needs no savepoint of its own (they cost more than the inserts); a write that
   * still fails aborts the whole group, which its callers then see refused. Answers why it refused.
   */
  private appendCall(appends: EncodedAppends, first: number, end: number, heads: Map<string, InstanceHead>, outcome: RoundOutcome): string | undefined {
    for (let index = first; index < end; index++) {
      const instanceId = appends.instanceIds[index] as string;
      if (!this.headOf(instanceId, heads)) return `instance ${instanceId} does not exist`;
    }
    for (let index = first; index < end; index++) this.appendOne(appends, index, heads.get(appends.instanceIds[index] as string) as InstanceHead, outcome);
    return undefined;
  }

  /** An instance's sequence as this commit moves it: read once, written once (not one UPDATE per event). */
  private headOf(instanceId: string, heads: Map<string, InstanceHead>): InstanceHead | undefined {
    let head = heads.get(instanceId);
    if (!head) {
      const row = this.statements.head.get(instanceId);
      if (!row) return undefined;
      head = { name: row.name, ownerJid: row.owner_jid, storedSeq: row.last_seq, lastSeq: row.last_seq };
      heads.set(instanceId, head);
    }
    return head;
  }

  private appendOne(appends: EncodedAppends, index: number, head: InstanceHead, outcome: RoundOutcome): void {
    const instanceId = appends.instanceIds[index] as string;
    const producerId = appends.producerIds[index] ?? null;
    if (producerId !== null) {
      const existing = this.statements.byProducer.get(instanceId, producerId);
      if (existing) {
        outcome.duplicates.push([index, existing]);
        return;
      }
    }
    const createdAt = Math.max(Date.now(), this.lastCreatedAt);
    this.lastCreatedAt = createdAt;
    const id = newEventId();
    const seq = head.lastSeq + 1;
    const inserted = this.statements.insertEvent.run(id, instanceId, head.name, seq, appends.events[index] as string, appends.data[index] as string, head.ownerJid, producerId, createdAt, appends.extras[index] ?? null);
    head.lastSeq = seq;
    outcome.ids[index] = id;
    outcome.numbers.set([Number(inserted.lastInsertRowid), seq, createdAt], index * NUMBERS_PER_EVENT);
  }

  private commitLedger(ledger: readonly LedgerWrite[]): void {
    // Ledger commits only record progress, so they skip the fsync: a power cut can lose only the last
    // ones (WAL commits survive in order, and the next FULL commit, an append, syncs those before it),
    // which means delivering those events again, never losing one. They are most of the syncs of busy destinations.
    if (this.options.fullSync) this.db.pragma('synchronous = NORMAL');
    try {
      this.writeLedger(ledger, Date.now());
    } finally {
      if (this.options.fullSync) this.db.pragma('synchronous = FULL');
    }
  }

  /** One ledger commit's writes: every write's records, then their cursors (inside `writeLedger`'s transaction). */
  private upsertLedger(writes: readonly LedgerWrite[], now: number): void {
    // Rows in write order: a later record of the same delivery updates the earlier one, in one statement or the next.
    const rows: unknown[] = [];
    for (const { records } of writes) {
      for (const { destination, pos, eventId, instanceId, event, status, attempts, nextAttemptAt } of records) {
        rows.push(destination, pos, eventId, instanceId, event, status, JSON.stringify(attempts), nextAttemptAt, now);
      }
    }
    const whole = rows.length - (rows.length % (UPSERT_ROWS * DELIVERY_COLUMNS));
    for (let start = 0; start < whole; start += UPSERT_ROWS * DELIVERY_COLUMNS) {
      this.statements.upsertDeliveries.run(rows.slice(start, start + UPSERT_ROWS * DELIVERY_COLUMNS));
    }
    for (let start = whole; start < rows.length; start += DELIVERY_COLUMNS) {
      this.statements.upsertDelivery.run(rows.slice(start, start + DELIVERY_COLUMNS));
    }
    for (const { destination, cursor } of writes) if (cursor !== undefined) this.statements.setCursor.run(destination, cursor, now);
  }
}

if (parentPort) {
  const port = parentPort;
  const writer = new SqliteWriter(workerData as WriterOptions);
  port.on('message', (request: ToWriter) => {
    if (request.type === 'close') {
      writer.close();
      port.close();
      return;
    }
    const { outcome, transfer } = writer.commit(request.appends, request.ledger);
    port.postMessage(outcome, transfer);
  });
}
