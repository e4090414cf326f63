import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { newEventId } from '../../core/ids.ts';
import type { InstanceHead } from '../sql-rows.ts';
import type { EventTuple } from '../sql-rows.ts';
import { EVENT_COLUMNS } from '../sql-rows.ts';
import type { EncodedRequest, LedgerWrite, NewEventColumns, RequestOutcome, RoundOutcome, ToWriter } from './writer-messages.ts';

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
  private readonly writeAppends: (calls: readonly EncodedRequest[][], outcomes: Array<RequestOutcome[] | string>) => void;
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
    this.writeAppends = this.db.transaction((calls: readonly EncodedRequest[][], outcomes: Array<RequestOutcome[] | string>) => this.appendCalls(calls, outcomes));
    this.writeLedger = this.db.transaction((writes: readonly LedgerWrite[], now: number) => this.upsertLedger(writes, now));
    // A key lookup, not a scan.
    this.lastCreatedAt = this.db.prepare<[], { t: number }>('SELECT created_at AS t FROM events ORDER BY pos DESC LIMIT 1').get()?.t ?? 0;
  }

  /** A round: its appends in one commit (a promise resolves only after its events are durable), then its ledger writes in another. */
  commit(appends: readonly EncodedRequest[][], ledger: readonly LedgerWrite[]): RoundOutcome {
    const outcome: RoundOutcome = { appends: [] };
    if (appends.length) {
      try {
        this.writeAppends(appends, outcome.appends);
      } catch (error) {
        outcome.appends = [];
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
    return outcome;
  }

  close(): void {
    this.db.close();
  }

  /** Each caller's requests, then the sequences they moved (inside `writeAppends`'s transaction). */
  private appendCalls(calls: readonly EncodedRequest[][], outcomes: Array<RequestOutcome[] | string>): void {
    const heads = new Map<string, InstanceHead>();
    for (const requests of calls) outcomes.push(this.appendCall(requests, heads));
    for (const [id, head] of heads) if (head.lastSeq !== head.storedSeq) this.statements.setLastSeq.run(head.lastSeq, id);
  }

  /**
   * One caller's requests, all or nothing, inside the shared transaction. An unknown instance is
   * found before the first write (data was checked on the store's thread), so a caller needs no
   * savepoint of its own (they cost more than the inserts); a write that still fails aborts the
   * whole group, which its callers then see refused.
   */
  private appendCall(requests: readonly EncodedRequest[], heads: Map<string, InstanceHead>): RequestOutcome[] | string {
    const rowHeads: InstanceHead[] = [];
    for (const request of requests) {
      const head = this.headOf(request.instanceId, heads);
      if (!head) return `instance ${request.instanceId} does not exist`;
      rowHeads.push(head);
    }
    return requests.map((request, index) => this.appendOne(request, rowHeads[index] as InstanceHead));
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

  private appendOne(request: EncodedRequest, head: InstanceHead): RequestOutcome {
    if (request.producerId !== null) {
      const existing = this.statements.byProducer.get(request.instanceId, request.producerId);
      if (existing) return { duplicate: existing };
    }
    const createdAt = Math.max(Date.now(), this.lastCreatedAt);
    this.lastCreatedAt = createdAt;
    const id = newEventId();
    const seq = head.lastSeq + 1;
    const inserted = this.statements.insertEvent.run(id, request.instanceId, head.name, seq, request.event, request.data, head.ownerJid, request.producerId, createdAt, request.extra);
    head.lastSeq = seq;
    const added: NewEventColumns = [Number(inserted.lastInsertRowid), id, seq, createdAt, head.name, head.ownerJid];
    return { added };
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
    port.postMessage(writer.commit(request.appends, request.ledger));
  });
}
