import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { isoTime } from '../../core/iso-time.ts';
import type {
  AppendRequest,
  AppendResult,
  DeliveryQuery,
  DeliveryRecord,
  Instance,
  InstancePatch,
  NewInstance,
  ReadQuery,
  Store,
  StoredEvent,
} from '../types.ts';
import { LoggedEvent } from '../logged-event.ts';
import { encodeRequest, EVENT_COLUMNS, patchColumns, toDelivery, toEvent, toInstance, type DeliveryRow, type EventTuple, type InstanceRow, type QueuedAppend, type QueuedLedgerWrite } from '../sql-rows.ts';
import { narrowExisting, privateFile } from '../../ops/private-files.ts';
import { MIGRATIONS } from './schema.ts';
import type { WriterOptions } from './sqlite-writer.ts';
import { NUMBERS_PER_EVENT, type EncodedAppends, type RoundOutcome, type ToWriter } from './writer-messages.ts';

/** An append waiting for its round, with its requests' data and extras as JSON text. */
interface PendingAppend extends QueuedAppend {
  data: string[];
  extras: Array<string | null>;
}

/** The writes sent to the writer thread and not yet answered. */
interface Round {
  appends: PendingAppend[];
  ledger: QueuedLedgerWrite[];
  /** Resolves when the round is answered (or the writer is gone). */
  done: Promise<void>;
  finish: () => void;
}

/** A round's appends as columns, callers one after the other. */
function encodeAppends(appends: readonly PendingAppend[]): EncodedAppends {
  const columns: EncodedAppends = { sizes: [], instanceIds: [], events: [], data: [], producerIds: [], extras: [] };
  for (const item of appends) {
    columns.sizes.push(item.requests.length);
    for (const request of item.requests) {
      columns.instanceIds.push(request.instanceId);
      columns.events.push(request.event);
      columns.producerIds.push(request.producerId ?? null);
    }
    columns.data.push(...item.data);
    columns.extras.push(...item.extras);
  }
  return columns;
}

/** A round's outcome, read back request by request. */
class RoundResults {
  readonly refused: Map<number, string>;
  private readonly heads: Map<string, { name: string; sender: string | null }>;
  private readonly duplicates: Map<number, EventTuple>;

  constructor(private readonly outcome: RoundOutcome) {
    this.refused = new Map(outcome.refused);
    this.heads = new Map(outcome.heads.map(([id, name, sender]) => [id, { name, sender }]));
    this.duplicates = new Map(outcome.duplicates);
  }

  /** Request `index` of the round as its caller gets it; a new event also goes to `appended`, for the listeners. */
  result(index: number, request: AppendRequest, data: string, extra: string | null, appended: StoredEvent[]): AppendResult {
    const duplicate = this.duplicates.get(index);
    if (duplicate) return { event: toEvent(duplicate), duplicate: true };
    const { numbers, ids } = this.outcome;
    const at = index * NUMBERS_PER_EVENT;
    const head = this.heads.get(request.instanceId);
    const [pos, seq, createdAt] = [numbers[at] ?? 0, numbers[at + 1] ?? 0, numbers[at + 2] ?? 0];
    const event = new LoggedEvent(pos, ids[index] ?? '', request.instanceId, head?.name ?? '', seq, request.event, data, head?.sender ?? null, isoTime(createdAt), extra, request.data ?? null);
    appended.push(event);
    return { event, duplicate: false };
  }
}

/**
 * Starts the writer thread. From the TypeScript sources (tests, benchmarks, `npm run dev`) a worker
 * does not inherit tsx's loader, so it registers it before loading the writer; the built server
 * loads the compiled writer directly.
 */
function startWriter(options: WriterOptions): Worker {
  const fromSources = import.meta.url.endsWith('.ts');
  const url = new URL(fromSources ? './sqlite-writer.ts' : './sqlite-writer.js', import.meta.url);
  if (!fromSources) return new Worker(url, { workerData: options });
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const code = `import(${tsx}).then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true, workerData: options });
}

/**
 * The embedded store: one SQLite file in WAL mode. Writes to the log and the delivery ledger run on a
 * writer thread with its own connection (sqlite-writer.ts), so their inserts and fsyncs never hold up
 * the event loop; reads run here, on a second connection (WAL lets them run during a write). The
 * appends and ledger writes made while the writer is busy are sent together as one round, one
 * commit (group commit), so concurrent producers share one fsync; a promise resolves only after its
 * events are durable, and then a read here sees them.
 */
export class SqliteStore implements Store {
  readonly provider = 'sqlite';
  private readonly db: Database.Database;
  private readonly writer: Worker;
  private readonly listeners = new Set<(events: readonly StoredEvent[]) => void>();
  private queue: PendingAppend[] = [];
  private ledgerQueue: QueuedLedgerWrite[] = [];
  private sendScheduled = false;
  private inFlight: Round | undefined;
  /** Why writes are refused: the store was closed, or its writer thread stopped. */
  private broken: Error | undefined;
  private readonly statements;
  /** Statements whose text depends on the query (filters, id lists), prepared once per text. */
  private readonly queries = new Map<string, Database.Statement>();

  /** The folder of the database that stands for `:memory:`, removed at close. */
  private readonly throwaway: string | undefined;

  constructor(file: string, { synchronous = 'full' as 'full' | 'normal' } = {}) {
    // Two connections (this thread's and the writer's) cannot share an in-memory database:
    // `:memory:` is a private file in the temporary folder instead, gone at close.
    if (file === ':memory:' || file === '') {
      this.throwaway = mkdtempSync(join(tmpdir(), 'pombo-memory-'));
      file = join(this.throwaway, 'pombo.db');
    }
    // SQLite gives its -wal and -shm files the database file's mode: a 600 database keeps them 600 too.
    privateFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    narrowExisting(`${file}-wal`, `${file}-shm`);
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.statements = {
      getCursor: this.db.prepare<[string], { pos: number }>('SELECT pos FROM cursors WHERE destination = ?'),
      // Two subqueries: SQLite reads MIN or MAX alone off the key, but both in one SELECT scan the table.
      bounds: this.db.prepare<[], { low: number | null; high: number | null }>('SELECT (SELECT MIN(pos) FROM events) AS low, (SELECT MAX(pos) FROM events) AS high'),
      // The last position handed out, for an empty log (AUTOINCREMENT never hands one out twice).
      lastPos: this.db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'events'"),
      firstAtOrAfter: this.db.prepare<[number], [number, number]>('SELECT pos, created_at FROM events WHERE pos >= ? ORDER BY pos LIMIT 1').raw(),
    };
    this.writer = startWriter({ file, fullSync: synchronous === 'full' });
    this.writer.on('message', (outcome: RoundOutcome) => this.answered(outcome));
    this.writer.on('error', (error) => this.fail(error));
    this.writer.on('exit', () => this.fail(new Error('the SQLite writer thread stopped')));
    // The thread keeps the process alive only while a round waits for it.
    this.writer.unref();
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let step = version; step < MIGRATIONS.length; step++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[step] ?? '');
        this.db.pragma(`user_version = ${step + 1}`);
      })();
    }
  }

  // ---- writes, through the writer thread -------------------------------------------------------

  append(requests: readonly AppendRequest[]): Promise<AppendResult[]> {
    if (!requests.length) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      if (this.broken) return reject(this.broken);
      const data: string[] = [];
      const extras: Array<string | null> = [];
      try {
        for (const request of requests) {
          const encoded = encodeRequest(request);
          data.push(encoded.data);
          extras.push(encoded.extra);
        }
      } catch (error) {
        return reject(error);
      }
      this.queue.push({ requests, data, extras, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Writes made in the same tick by any destinations are committed together, like appends: a thousand
   * realtime subscribers moving their cursors cost one commit, not a thousand.
   */
  saveDeliveries(destination: string, records: readonly DeliveryRecord[], cursor?: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.broken) return reject(this.broken);
      this.ledgerQueue.push({ destination, records, cursor, resolve, reject });
      this.schedule();
    });
  }

  /** Sends the queued writes at the end of this turn, unless a round is out: its answer sends them. */
  private schedule(): void {
    if (this.sendScheduled || this.inFlight) return;
    this.sendScheduled = true;
    setImmediate(() => {
      this.sendScheduled = false;
      this.send();
    });
  }

  /** Everything queued, as one round: one message to the writer, one answer back. */
  private send(): void {
    if (this.inFlight || this.broken || (!this.queue.length && !this.ledgerQueue.length)) return;
    let finish = () => {};
    const done = new Promise<void>((resolve) => (finish = resolve));
    const round: Round = { appends: this.queue, ledger: this.ledgerQueue, done, finish };
    this.queue = [];
    this.ledgerQueue = [];
    this.inFlight = round;
    const message: ToWriter = {
      type: 'round',
      appends: encodeAppends(round.appends),
      ledger: round.ledger.map(({ destination, records, cursor }) => ({ destination, records, cursor })),
    };
    this.writer.ref();
    this.writer.postMessage(message);
  }

  /** The writer committed a round: callers learn their outcome, then listeners hear the new events. */
  private answered(outcome: RoundOutcome): void {
    const round = this.inFlight;
    if (!round) return;
    this.inFlight = undefined;
    this.writer.unref();
    const appended: StoredEvent[] = [];
    const results = new RoundResults(outcome);
    let first = 0;
    round.appends.forEach((item, caller) => {
      const reason = outcome.appendFailure ?? results.refused.get(caller);
      if (reason !== undefined) item.reject(new Error(reason));
      else item.resolve(item.requests.map((request, k) => results.result(first + k, request, item.data[k] as string, item.extras[k] ?? null, appended)));
      first += item.requests.length;
    });
    for (const write of round.ledger) {
      if (outcome.ledgerFailure !== undefined) write.reject(new Error(outcome.ledgerFailure));
      else write.resolve();
    }
    if (appended.length) for (const listener of this.listeners) listener(appended);
    round.finish();
    // Writes queued meanwhile go out as the next round, with those the callers just woken make this turn.
    if (this.queue.length || this.ledgerQueue.length) this.schedule();
  }

  /** The writer thread is gone (or the store closed): what waits for it is refused, and so is what comes later. */
  private fail(error: Error): void {
    if (this.broken) return;
    this.broken = error;
    const waiting = [...(this.inFlight ? [...this.inFlight.appends, ...this.inFlight.ledger] : []), ...this.queue, ...this.ledgerQueue];
    this.inFlight?.finish();
    this.inFlight = undefined;
    this.queue = [];
    this.ledgerQueue = [];
    for (const write of waiting) write.reject(error);
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
    return result.changes;
  }

  onAppend(listener: (events: readonly StoredEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- instances -------------------------------------------------------------------------------

  async createInstance(instance: NewInstance): Promise<Instance> {
    this.db
      .prepare(
        `INSERT INTO instances (id, name, token, integration, number, channels, created_at)
         VALUES (@id, @name, @token, @integration, @number, @channels, @createdAt)`,
      )
      .run({ ...instance, channels: JSON.stringify(instance.channels), createdAt: new Date().toISOString() });
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

  async updateInstance(id: string, patch: InstancePatch): Promise<Instance> {
    const columns = patchColumns(patch);
    if (columns.length) {
      const sets = columns.map(([column]) => `${column} = ?`).join(', ');
      this.db.prepare(`UPDATE instances SET ${sets} WHERE id = ?`).run(...columns.map(([, value]) => value), id);
    }
    return (await this.getInstanceById(id)) as Instance;
  }

  async setChannelConfig(id: string, channel: string, config: unknown): Promise<Instance> {
    this.db
      .prepare("UPDATE instances SET channels = json_set(channels, '$.' || ?, json(?)) WHERE id = ?")
      .run(channel, JSON.stringify(config ?? null), id);
    return (await this.getInstanceById(id)) as Instance;
  }

  async deleteInstance(id: string): Promise<void> {
    this.db.prepare('DELETE FROM instances WHERE id = ?').run(id);
  }

  // ---- deliveries ------------------------------------------------------------------------------

  async getCursor(destination: string): Promise<number | undefined> {
    return this.statements.getCursor.get(destination)?.pos;
  }

  async listDeliveries(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    const where = ['destination = @destination', 'pos > @afterPos'];
    if (query.status) where.push('status = @status');
    if (query.event) where.push('event = @event');
    const sql = `SELECT * FROM deliveries WHERE ${where.join(' AND ')} ORDER BY pos LIMIT @limit`;
    return this.db
      .prepare<[Record<string, unknown>], DeliveryRow>(sql)
      .all({ afterPos: 0, status: null, event: null, ...query })
      .map(toDelivery);
  }

  async pendingDeliveries(destination: string, limit: number): Promise<DeliveryRecord[]> {
    return this.listDeliveries({ destination, status: 'pending', limit });
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

  /** Commits what is queued and what the writer has not answered yet, then stops the writer. */
  async close(): Promise<void> {
    while (!this.broken && (this.inFlight || this.queue.length || this.ledgerQueue.length)) {
      this.send();
      await this.inFlight?.done;
    }
    if (!this.broken) {
      this.broken = new Error('the store is closed');
      const exited = once(this.writer, 'exit');
      this.writer.ref();
      this.writer.postMessage({ type: 'close' } satisfies ToWriter);
      await exited;
    }
    if (this.db.open) this.db.close();
    if (this.throwaway) rmSync(this.throwaway, { recursive: true, force: true });
  }
}
