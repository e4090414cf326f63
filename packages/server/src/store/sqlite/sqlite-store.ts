import Database from 'better-sqlite3';
import { newEventId } from '../../core/ids.ts';
import { isoTime } from '../../core/iso-time.ts';
import type {
  AppendRequest,
  AppendResult,
  ChannelsEdit,
  DeliveryQuery,
  DeliveryRecord,
  Instance,
  InstancePatch,
  KeyClaim,
  KeyHolder,
  LedgerFigures,
  NewInstance,
  ReadQuery,
  Store,
  StoredEvent,
} from '../types.ts';
import type { AppendListener } from '../append-interest.ts';
import { LoggedEvent } from '../logged-event.ts';
import { OwnerJidTakenError } from '../owner-jid-taken-error.ts';
import { TokenTakenError } from '../token-taken-error.ts';
import { claimOf, CommitKeys } from '../key-claims.ts';
import { appendRows, EVENT_COLUMNS, patchColumns, scopedKey, toDelivery, toEvent, toInstance, type AppendRow, type DeliveryRow, type EventTuple, type InstanceHead, type InstanceRow, type QueuedAppend, type QueuedLedgerWrite } from '../sql-rows.ts';
import { narrowExisting, privateFile } from '../../ops/private-files.ts';
import { lockDatabaseFile } from './exclusive-lock.ts';
import { MIGRATIONS } from './schema.ts';

/** Delivery records written by one statement: a statement for many rows costs a third less per row than one each. */
const UPSERT_ROWS = 64;
/**
 * The term of the status index's WHERE (schema.ts): a query that names it, beside `status = …`, may use
 * the index (SQLite proves a partial index usable only from the same term), and says so (INDEXED BY):
 * without statistics SQLite would walk the destination's records by position instead, every delivered
 * one included, to find a few failed ones.
 */
const UNDELIVERED = "status != 'delivered'";
const DELIVERY_COLUMNS = 9;
/** Events inserted by one statement: for many rows, about 1.5 µs less per event than a statement each. */
const INSERT_ROWS = 64;
const EVENT_INSERT_COLUMNS = 10;

function insertEventsSql(rows: number): string {
  const values = Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
  return `INSERT INTO events (id, instance_id, instance, seq, event, data, sender, producer_id, created_at, extra) VALUES ${values}`;
}

function upsertDeliveriesSql(rows: number): string {
  const values = Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
  return `INSERT INTO deliveries (destination, pos, event_id, instance_id, event, status, attempts, next_attempt_at, updated_at)
    VALUES ${values}
    ON CONFLICT (destination, pos) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
      next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at`;
}

/** Writes a record's columns into `values` from `at`, in the upsert's order; answers where the next row goes. */
function ledgerRow(values: unknown[], at: number, record: DeliveryRecord, now: number): number {
  values[at] = record.destination;
  values[at + 1] = record.pos;
  values[at + 2] = record.eventId;
  values[at + 3] = record.instanceId;
  values[at + 4] = record.event;
  values[at + 5] = record.status;
  values[at + 6] = JSON.stringify(record.attempts);
  values[at + 7] = record.nextAttemptAt;
  values[at + 8] = now;
  return at + DELIVERY_COLUMNS;
}

/** Opens the log at `file` in WAL mode, its files private and its schema brought up to date; closed again if any of that fails. */
function openLog(file: string, onDisk: boolean, fullSync: boolean): Database.Database {
  if (onDisk) {
    // SQLite gives its -wal and -shm files the database file's mode: a 600 database keeps them 600 too.
    privateFile(file);
    // Those a previous run left are checked before SQLite opens them: one of another user's (a start as
    // root) stops the start naming it, where SQLite would only say 'unable to open database file'.
    narrowExisting(`${file}-wal`, `${file}-shm`);
  }
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    if (onDisk) narrowExisting(`${file}-wal`, `${file}-shm`);
    db.pragma(`synchronous = ${fullSync ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Brings the schema up to date, one transaction per step, counted in user_version. */
function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let step = version; step < MIGRATIONS.length; step++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[step] ?? '');
      db.pragma(`user_version = ${step + 1}`);
    })();
  }
}

/**
 * The embedded store: one SQLite file in WAL mode. Appends made in the same tick are committed
 * together (group commit), so concurrent producers share one fsync; a promise resolves only
 * after its events are durable.
 */
export class SqliteStore implements Store {
  readonly provider = 'sqlite';
  private readonly db: Database.Database;
  private readonly listeners = new Set<AppendListener>();
  private queue: QueuedAppend[] = [];
  private flushScheduled = false;
  private ledgerQueue: QueuedLedgerWrite[] = [];
  private readonly statements;
  /** Statements whose text depends on the query (filters, id lists), prepared once per text. */
  private readonly queries = new Map<string, Database.Statement>();
  private readonly fullSync: boolean;
  /** The values of one full delivery upsert, reused by every ledger commit (commits run one at a time). */
  private readonly ledgerValues: unknown[] = new Array(UPSERT_ROWS * DELIVERY_COLUMNS);
  /** Upserts of fewer rows than UPSERT_ROWS, by count: a commit's last records go in one statement, not one each. */
  private readonly upserts: Database.Statement[] = [];
  /** Event inserts by number of rows (1 to INSERT_ROWS), prepared when first needed. */
  private readonly inserts: Database.Statement[] = [];
  /** The commits of appends and of the ledger, their transaction wrappers made once (one per commit was garbage). */
  private readonly writeAppends: (batch: readonly QueuedAppend[], outcomes: Array<AppendResult[] | Error>, appended: StoredEvent[]) => void;
  private readonly writeLedger: (batch: readonly QueuedLedgerWrite[], now: number) => void;
  /** The time of the newest event: times never go back along the log, even when the clock does. */
  private lastCreatedAt: number;

  /** Held while the store is open: one Pombo per log (see exclusive-lock.ts). */
  private readonly lock: { release(): void } | undefined;

  constructor(file: string, { synchronous = 'full' as 'full' | 'normal' } = {}) {
    const onDisk = file !== ':memory:' && file !== '';
    // Taken first: a log that another Pombo runs on is not touched at all.
    this.lock = onDisk ? lockDatabaseFile(file) : undefined;
    this.fullSync = synchronous === 'full';
    try {
      this.db = openLog(file, onDisk, this.fullSync);
    } catch (error) {
      // A log that cannot be used (a file of another user, not a database): the lock is let go of with
      // the failed start, so that a start after it in this process, or in another, may take it.
      this.lock?.release();
      throw error;
    }
    this.statements = {
      head: this.db.prepare<[string], { last_seq: number; owner_jid: string | null; name: string }>(
        'SELECT last_seq, owner_jid, name FROM instances WHERE id = ?',
      ),
      setLastSeq: this.db.prepare<[number, string]>('UPDATE instances SET last_seq = ? WHERE id = ?'),
      byProducer: this.db.prepare<[string, string], EventTuple>(`SELECT ${EVENT_COLUMNS} FROM events WHERE instance_id = ? AND producer_id = ?`).raw(),
      keyHolder: this.db.prepare<[string, string], { fingerprint: string; event_ids: string }>(
        'SELECT fingerprint, event_ids FROM idempotency_keys WHERE instance_id = ? AND key = ?',
      ),
      holdKey: this.db.prepare<[string, string, string, string, number]>(
        `INSERT INTO idempotency_keys (instance_id, key, fingerprint, event_ids, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (instance_id, key) DO UPDATE SET event_ids = excluded.event_ids, created_at = excluded.created_at`,
      ),
      getCursor: this.db.prepare<[string], { pos: number }>('SELECT pos FROM cursors WHERE destination = ?'),
      setCursor: this.db.prepare(
        `INSERT INTO cursors (destination, pos, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (destination) DO UPDATE SET pos = excluded.pos, updated_at = excluded.updated_at`,
      ),
      // Two subqueries: SQLite reads MIN or MAX alone off the key, but both in one SELECT scan the table.
      bounds: this.db.prepare<[], { low: number | null; high: number | null }>('SELECT (SELECT MIN(pos) FROM events) AS low, (SELECT MAX(pos) FROM events) AS high'),
      // The last position handed out, for an empty log (AUTOINCREMENT never hands one out twice).
      lastPos: this.db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'events'"),
      countBetween: this.db.prepare<[number, number], { n: number }>('SELECT COUNT(*) AS n FROM events WHERE pos > ? AND pos <= ?'),
      countOfInstance: this.db.prepare<[string, number, number], { n: number }>('SELECT COUNT(*) AS n FROM events WHERE instance_id = ? AND pos > ? AND pos <= ?'),
      firstAtOrAfter: this.db.prepare<[number], [number, number]>('SELECT pos, created_at FROM events WHERE pos >= ? ORDER BY pos LIMIT 1').raw(),
      upsertDeliveries: this.db.prepare(upsertDeliveriesSql(UPSERT_ROWS)),
    };
    this.writeAppends = this.db.transaction((batch: readonly QueuedAppend[], outcomes: Array<AppendResult[] | Error>, appended: StoredEvent[]) =>
      this.appendBatch(batch, outcomes, appended),
    );
    this.writeLedger = this.db.transaction((batch: readonly QueuedLedgerWrite[], now: number) => this.upsertLedger(batch, now));
    // Times never go back along the log: the newest is the last event's (a key lookup, not a scan).
    this.lastCreatedAt = this.db.prepare<[], { t: number }>('SELECT created_at AS t FROM events ORDER BY pos DESC LIMIT 1').get()?.t ?? 0;
  }

  // ---- event log -------------------------------------------------------------------------------

  append(requests: readonly AppendRequest[], claim?: KeyClaim): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ requests, claim, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  async keyHolder(instanceId: string, key: string): Promise<KeyHolder | undefined> {
    return this.holderOf(instanceId, key);
  }

  private holderOf(instanceId: string, key: string): KeyHolder | undefined {
    const row = this.statements.keyHolder.get(instanceId, key);
    return row && { fingerprint: row.fingerprint, eventIds: JSON.parse(row.event_ids) as string[] };
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    this.flushScheduled = false;
    const appended: StoredEvent[] = [];
    const outcomes: Array<AppendResult[] | Error> = [];
    try {
      this.writeAppends(batch, outcomes, appended);
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, index) => {
      const outcome = outcomes[index];
      if (outcome instanceof Error || outcome === undefined) item.reject(outcome);
      else item.resolve(outcome);
    });
    if (!appended.length) return;
    const head = (appended.at(-1) as StoredEvent).pos;
    for (const listener of this.listeners) listener(appended, head);
  }

  /** One commit's appends: each caller's, then the sequences they moved and the keys they claimed (run inside `writeAppends`'s transaction). */
  private appendBatch(batch: readonly QueuedAppend[], outcomes: Array<AppendResult[] | Error>, appended: StoredEvent[]): void {
    const heads = new Map<string, InstanceHead>();
    const keys = new CommitKeys(this.keyHolders(batch));
    for (const item of batch) outcomes.push(this.appendCall(item, appended, heads, keys));
    for (const [id, head] of heads) if (head.lastSeq !== head.storedSeq) this.statements.setLastSeq.run(head.lastSeq, id);
    const now = Date.now();
    for (const { claim, eventIds } of keys.claims) this.statements.holdKey.run(claim.instanceId, claim.key, claim.fingerprint, JSON.stringify(eventIds), now);
  }

  /** Who holds the keys the batch claims, by scopedKey, as the commit begins. */
  private keyHolders(batch: readonly QueuedAppend[]): Map<string, KeyHolder> {
    const holders = new Map<string, KeyHolder>();
    for (const call of batch) {
      const claim = claimOf(call);
      const holder = claim && this.holderOf(claim.instanceId, claim.key);
      if (claim && holder) holders.set(scopedKey(claim.instanceId, claim.key), holder);
    }
    return holders;
  }

  /**
   * One caller's requests, all or nothing, inside the shared transaction. Everything that can fail
   * (an unknown instance, data that is not JSON) is checked before the first write, so a caller
   * needs no savepoint of its own (they cost more than the inserts); a write that still fails aborts
   * the whole group, which its callers then see rejected. A key another request holds is one of those checks.
   */
  private appendCall(call: QueuedAppend, appended: StoredEvent[], heads: Map<string, InstanceHead>, keys: CommitKeys): AppendResult[] | Error {
    const rows = appendRows(call.requests, (instanceId) => this.headOf(instanceId, heads));
    if (rows instanceof Error) return rows;
    const claim = claimOf(call);
    const taken = claim && keys.refusal(claim);
    if (taken) return taken;
    const results: AppendResult[] = [];
    // Rows without a producer id go in runs of up to INSERT_ROWS per statement; one with a producer id
    // goes alone, once checked for a duplicate (of a stored event, or of one earlier in this commit).
    let start = 0;
    while (start < rows.length) {
      const first = rows[start] as AppendRow;
      if (first.request.producerId !== undefined) {
        const existing = this.statements.byProducer.get(first.request.instanceId, first.request.producerId);
        results.push(existing ? { event: toEvent(existing), duplicate: true } : (this.insertRun([first], appended)[0] as AppendResult));
        start++;
        continue;
      }
      let end = start + 1;
      while (end < rows.length && end - start < INSERT_ROWS && (rows[end] as AppendRow).request.producerId === undefined) end++;
      results.push(...this.insertRun(rows.slice(start, end), appended));
      start = end;
    }
    if (claim) keys.hold(claim, results);
    return results;
  }

  /** An instance's sequence as this commit moves it: read once, written once (not one UPDATE per event). */
  private headOf(instanceId: string, heads: Map<string, InstanceHead>): InstanceHead {
    let head = heads.get(instanceId);
    if (!head) {
      const row = this.statements.head.get(instanceId);
      if (!row) throw new Error(`instance ${instanceId} does not exist`);
      head = { name: row.name, ownerJid: row.owner_jid, storedSeq: row.last_seq, lastSeq: row.last_seq };
      heads.set(instanceId, head);
    }
    return head;
  }

  /**
   * Inserts rows in one statement. The table's AUTOINCREMENT key gives the rows of one statement
   * consecutive positions (one writer, inside its transaction), ending at the last one inserted.
   */
  private insertRun(rows: readonly AppendRow[], appended: StoredEvent[]): AppendResult[] {
    const createdAt = Math.max(Date.now(), this.lastCreatedAt);
    this.lastCreatedAt = createdAt;
    const values: unknown[] = new Array(rows.length * EVENT_INSERT_COLUMNS);
    const ids: string[] = [];
    const seqs: number[] = [];
    let at = 0;
    for (const { request, head, data, extra } of rows) {
      const id = newEventId();
      ids.push(id);
      seqs.push(++head.lastSeq);
      values[at++] = id;
      values[at++] = request.instanceId;
      values[at++] = head.name;
      values[at++] = head.lastSeq;
      values[at++] = request.event;
      values[at++] = data;
      values[at++] = head.ownerJid;
      values[at++] = request.producerId ?? null;
      values[at++] = createdAt;
      values[at++] = extra;
    }
    const inserted = this.prepared(this.inserts, rows.length, insertEventsSql).run(values);
    const firstPos = Number(inserted.lastInsertRowid) - rows.length + 1;
    const time = isoTime(createdAt);
    return rows.map(({ request, head, data, extra }, index) => {
      const event = new LoggedEvent(firstPos + index, ids[index] as string, request.instanceId, head.name, seqs[index] as number, request.event, data, head.ownerJid, time, extra, request.data ?? null);
      appended.push(event);
      return { event, duplicate: false };
    });
  }

  /** The statement for `rows` rows, from `cache` (by count) or prepared from `sqlOf` once. */
  private prepared(cache: Database.Statement[], rows: number, sqlOf: (rows: number) => string): Database.Statement {
    let statement = cache[rows];
    if (!statement) {
      statement = this.db.prepare(sqlOf(rows));
      cache[rows] = statement;
    }
    return statement;
  }

  async read(query: ReadQuery): Promise<StoredEvent[]> {
    const where: string[] = ['pos > ?'];
    const params: unknown[] = [query.afterPos ?? 0];
    const filter = (condition: string, ...values: unknown[]) => {
      where.push(condition);
      params.push(...values);
    };
    if (query.untilPos !== undefined) filter('pos <= ?', query.untilPos);
    if (query.instanceId !== undefined) filter('instance_id = ?', query.instanceId);
    // Times never go back along the log: a time range is a range of positions, found by bisection.
    if (query.fromTime !== undefined) filter('pos >= ?', this.firstPosAt(Date.parse(query.fromTime)));
    if (query.toTime !== undefined) filter('pos < ?', this.firstPosAt(Date.parse(query.toTime) + 1));
    if (query.events?.length) filter(`event IN (${query.events.map(() => '?').join(', ')})`, ...query.events);
    const sql = `SELECT ${EVENT_COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY pos LIMIT ?`;
    return (this.query(sql).all(...params, query.limit) as EventTuple[]).map(toEvent);
  }

  async getByIds(ids: readonly string[]): Promise<StoredEvent[]> {
    if (!ids.length) return [];
    const sql = `SELECT ${EVENT_COLUMNS} FROM events WHERE id IN (${ids.map(() => '?').join(', ')}) ORDER BY pos`;
    return (this.query(sql).all(...ids) as EventTuple[]).map(toEvent);
  }

  /** A prepared statement for this text, answering rows as arrays; the cache is bounded, as id lists make texts of many lengths. */
  private query(sql: string): Database.Statement {
    let statement = this.queries.get(sql);
    if (!statement) {
      if (this.queries.size >= 200) this.queries.clear();
      statement = this.db.prepare(sql).raw();
      this.queries.set(sql, statement);
    }
    return statement;
  }

  async headPosition(): Promise<number> {
    return this.statements.bounds.get()?.high ?? this.statements.lastPos.get()?.seq ?? 0;
  }

  async tailPosition(): Promise<number | undefined> {
    return this.statements.bounds.get()?.low ?? undefined;
  }

  async countBetween(afterPos: number, untilPos: number): Promise<number> {
    return this.statements.countBetween.get(afterPos, untilPos)?.n ?? 0;
  }

  async countOfInstance(instanceId: string, afterPos: number, untilPos: number): Promise<number> {
    return this.statements.countOfInstance.get(instanceId, afterPos, untilPos)?.n ?? 0;
  }

  async lastPositionOf(instanceId: string): Promise<number> {
    return this.db.prepare<[string], { pos: number | null }>('SELECT MAX(pos) AS pos FROM events WHERE instance_id = ?').get(instanceId)?.pos ?? 0;
  }

  /**
   * The first position whose time is at or after `ms` (past the head when there is none), by bisection
   * over positions: times never go back along the log, so no index on time is kept (one less per append).
   */
  private firstPosAt(ms: number): number {
    const bounds = this.statements.bounds.get();
    let low = bounds?.low ?? 1;
    let high = (bounds?.high ?? 0) + 1;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      const row = this.statements.firstAtOrAfter.get(middle);
      if (!row || row[1] >= ms) high = middle;
      else low = row[0] + 1;
    }
    return low;
  }

  async prune(before: Date): Promise<number> {
    const result = this.db
      .prepare(`DELETE FROM events WHERE pos < ? AND pos NOT IN (SELECT pos FROM deliveries WHERE status = 'pending')`)
      .run(this.firstPosAt(before.getTime()));
    this.db
      .prepare("DELETE FROM deliveries WHERE status != 'pending' AND updated_at < ?")
      .run(before.getTime());
    // A key is held as long as an event of its request is (a pending delivery can keep one): a retry is then still a retry.
    this.db
      .prepare(
        `DELETE FROM idempotency_keys WHERE created_at < ?
           AND NOT EXISTS (SELECT 1 FROM json_each(idempotency_keys.event_ids) AS named JOIN events ON events.id = named.value)`,
      )
      .run(before.getTime());
    return result.changes;
  }

  onAppend(listener: AppendListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- instances -------------------------------------------------------------------------------

  async createInstance(instance: NewInstance): Promise<Instance> {
    try {
      this.db
        .prepare(
          `INSERT INTO instances (id, name, token, integration, number, channels, created_at)
           VALUES (@id, @name, @token, @integration, @number, @channels, @createdAt)`,
        )
        .run({ ...instance, channels: JSON.stringify(instance.channels), createdAt: new Date().toISOString() });
    } catch (error) {
      // The unique index of token (schema.ts): another instance's.
      const taken = error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_UNIQUE' && error.message.includes('instances.token');
      throw taken ? new TokenTakenError() : error;
    }
    return (await this.getInstanceById(instance.id)) as Instance;
  }

  async getInstance(name: string): Promise<Instance | undefined> {
    const row = this.db.prepare<[string], InstanceRow>('SELECT * FROM instances WHERE name = ?').get(name);
    return row && toInstance(row);
  }

  async getInstanceById(id: string): Promise<Instance | undefined> {
    const row = this.db.prepare<[string], InstanceRow>('SELECT * FROM instances WHERE id = ?').get(id);
    return row && toInstance(row);
  }

  async listInstances(): Promise<Instance[]> {
    return this.db.prepare<[], InstanceRow>('SELECT * FROM instances ORDER BY created_at, name').all().map(toInstance);
  }

  async updateInstance(id: string, patch: InstancePatch): Promise<Instance | undefined> {
    const columns = patchColumns(patch);
    if (columns.length) {
      const sets = [...columns.map(([column]) => `${column} = ?`), 'version = version + 1'].join(', ');
      try {
        this.db.prepare(`UPDATE instances SET ${sets} WHERE id = ?`).run(...columns.map(([, value]) => value), id);
      } catch (error) {
        // The unique index of owner_jid (schema.ts): the number is another instance's.
        const taken = error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_UNIQUE' && error.message.includes('instances.owner_jid');
        throw taken && patch.ownerJid ? new OwnerJidTakenError(patch.ownerJid) : error;
      }
    }
    return this.getInstanceById(id);
  }

  /** Read, changed and written in one transaction, all synchronous: nothing else runs in between. */
  async editChannels(id: string, change: ChannelsEdit): Promise<Instance | undefined> {
    const edit = this.db.transaction((): Instance | undefined => {
      const row = this.db.prepare<[string], InstanceRow>('SELECT * FROM instances WHERE id = ?').get(id);
      if (!row) return undefined;
      const stored = toInstance(row);
      const channels = { ...stored.channels, ...change(stored) };
      const written = this.db.prepare<[string, string], InstanceRow>('UPDATE instances SET channels = ?, version = version + 1 WHERE id = ? RETURNING *').get(JSON.stringify(channels), id);
      return toInstance(written as InstanceRow);
    });
    return edit.immediate();
  }

  async deleteInstance(id: string): Promise<void> {
    this.db.prepare('DELETE FROM instances WHERE id = ?').run(id);
  }

  // ---- deliveries ------------------------------------------------------------------------------

  async getCursor(destination: string): Promise<number | undefined> {
    return this.statements.getCursor.get(destination)?.pos;
  }

  /**
   * Writes made in the same tick by any destinations are committed together, like appends: a thousand
   * realtime subscribers moving their cursors cost one disk sync, not a thousand.
   */
  saveDeliveries(destination: string, records: readonly DeliveryRecord[], cursor?: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ledgerQueue.push({ destination, records, cursor, resolve, reject });
      if (this.ledgerQueue.length === 1) setImmediate(() => this.flushLedger());
    });
  }

  /** One ledger commit's writes: every queued write's records, then their cursors (run inside `writeLedger`'s transaction). */
  private upsertLedger(batch: readonly QueuedLedgerWrite[], now: number): void {
    // Rows in write order: a later record of the same delivery updates the earlier one, in one statement or the next.
    // Full statements of UPSERT_ROWS rows take their values from one array filled in place (a busy
    // delivery log writes thousands of records a second: no array of every value, no copy per statement).
    const values = this.ledgerValues;
    let filled = 0;
    for (const { records } of batch) {
      for (const record of records) {
        filled = ledgerRow(values, filled, record, now);
        if (filled === values.length) {
          this.statements.upsertDeliveries.run(values);
          filled = 0;
        }
      }
    }
    // A commit's last records (fewer than UPSERT_ROWS) go in one statement of their count.
    if (filled) this.prepared(this.upserts, filled / DELIVERY_COLUMNS, upsertDeliveriesSql).run(values.slice(0, filled));
    for (const { destination, cursor } of batch) if (cursor !== undefined) this.statements.setCursor.run(destination, cursor, now);
  }

  private flushLedger(): void {
    const batch = this.ledgerQueue;
    // close() may have written the queue already: the database is closed by now.
    if (!batch.length) return;
    this.ledgerQueue = [];
    const now = Date.now();
    // Ledger commits only record progress, so they skip the fsync: a power cut can lose only the last
    // ones (WAL commits survive in order, and the next FULL commit, an append, syncs those before it),
    // which means delivering those events again, never losing one. They are most of the syncs of busy destinations.
    if (this.fullSync) this.db.pragma('synchronous = NORMAL');
    try {
      this.writeLedger(batch, now);
    } catch (error) {
      for (const write of batch) write.reject(error);
      return;
    } finally {
      if (this.fullSync) this.db.pragma('synchronous = FULL');
    }
    for (const write of batch) write.resolve();
  }

  async listDeliveries(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    const where = ['destination = @destination', 'pos > @afterPos'];
    const undelivered = query.status !== undefined && query.status !== 'delivered';
    if (query.status) where.push(undelivered ? `status = @status AND ${UNDELIVERED}` : 'status = @status');
    if (query.event) where.push('event = @event');
    const sql = `SELECT * FROM deliveries ${undelivered ? 'INDEXED BY deliveries_status' : ''} WHERE ${where.join(' AND ')} ORDER BY pos LIMIT @limit`;
    return this.db
      .prepare<[Record<string, unknown>], DeliveryRow>(sql)
      .all({ afterPos: 0, status: null, event: null, ...query })
      .map(toDelivery);
  }

  /**
   * One statement, run for each destination within this call: SQLite answers in this process (no round
   * trip to save), and a range of the index per destination reads at most `perDestination` rows, where a
   * single statement numbering the rows (a window) would read every dead letter of them.
   */
  async failedDeliveries(destinations: readonly string[], perDestination: number): Promise<DeliveryRecord[]> {
    const statement = this.db.prepare<[string, number], DeliveryRow>(
      `SELECT * FROM deliveries INDEXED BY deliveries_status WHERE destination = ? AND status = 'failed' AND ${UNDELIVERED} ORDER BY pos LIMIT ?`,
    );
    return [...new Set(destinations)].flatMap((destination) => statement.all(destination, perDestination).map(toDelivery));
  }

  async pendingDeliveries(destination: string, limit: number): Promise<DeliveryRecord[]> {
    return this.listDeliveries({ destination, status: 'pending', limit });
  }

  async ledgerFigures(destinations: readonly string[]): Promise<Map<string, LedgerFigures>> {
    // Each count a range of the status index (the term UNDELIVERED lets SQLite use it).
    const statement = this.db.prepare<[{ destination: string }], { cursor: number | null; pending: number; failed: number }>(
      `SELECT c.pos AS cursor,
         (SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_status
           WHERE destination = @destination AND status = 'pending' AND ${UNDELIVERED} AND pos <= c.pos) AS pending,
         (SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_status
           WHERE destination = @destination AND status = 'failed' AND ${UNDELIVERED}) AS failed
       FROM (SELECT @destination AS destination) AS d LEFT JOIN cursors AS c ON c.destination = d.destination`,
    );
    const figures = new Map<string, LedgerFigures>();
    for (const destination of new Set(destinations)) {
      const row = statement.get({ destination });
      figures.set(destination, { cursor: row?.cursor ?? undefined, pending: row?.pending ?? 0, failed: row?.failed ?? 0 });
    }
    return figures;
  }

  async deleteDestination(destination: string, { children = false } = {}): Promise<void> {
    // Children are the ids from `<destination>:` up to `<destination>;` (';' follows ':'): a range of the index.
    const which = children ? 'destination = ? OR (destination >= ? AND destination < ?)' : 'destination = ?';
    const params = children ? [destination, `${destination}:`, `${destination};`] : [destination];
    this.db.transaction(() => {
      this.db.prepare(`DELETE FROM deliveries WHERE ${which}`).run(params);
      this.db.prepare(`DELETE FROM cursors WHERE ${which}`).run(params);
    })();
  }

  async listChildren(destination: string): Promise<string[]> {
    const rows = this.db.prepare<[string, string], { destination: string }>('SELECT destination FROM cursors WHERE destination >= ? AND destination < ?').all(`${destination}:`, `${destination};`);
    return rows.map((row) => row.destination);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.queue.length) this.flush();
    if (this.ledgerQueue.length) this.flushLedger();
    this.db.close();
    this.lock?.release();
  }
}
