import pg from 'pg';
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
import { Wanted, type AppendInterest, type AppendListener } from '../append-interest.ts';
import { LoggedEvent } from '../logged-event.ts';
import { claimOf, CommitKeys, type ClaimWrite } from '../key-claims.ts';
import { appendRows, EVENT_COLUMNS, patchColumns, scopedKey, toDelivery, toEvent, toInstance, type DeliveryRow, type EventTuple, type InstanceRow, type QueuedAppend, type QueuedLedgerWrite } from '../sql-rows.ts';
import { AppendNotifications, APPEND_CHANNEL } from './append-notifications.ts';
import { LeaseLostError } from '../lease-lost-error.ts';
import { OwnerJidTakenError } from '../owner-jid-taken-error.ts';
import { TokenTakenError } from '../token-taken-error.ts';
import { ClusterTables } from './cluster-tables.ts';
import { ledgerStatement, type RefusedWrite } from './ledger-commit.ts';
import { LogFollower, type FollowedPage } from './log-follower.ts';
import { MIGRATIONS } from './postgres-schema.ts';
import { parsePostgresUri } from './postgres-uri.ts';

/** BIGINT columns (positions, sequences, ms times) as numbers: they stay far below 2^53. */
const INT8_OID = 20;
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** The connection hygiene of `PostgresStore.open` (DATABASE_STATEMENT_TIMEOUT_MS, DATABASE_KEEPALIVE_MS). */
export interface PostgresOptions {
  /**
   * A statement running longer is cancelled by the server, and an answer awaited longer than this
   * plus ANSWER_GRACE_MS is given up by Pombo (a server or network that stopped answering), its
   * connection dropped. 0: neither. Default 30000.
   */
  statementTimeoutMs?: number;
  /** TCP keepalive probes start after this much silence on a connection. Default 10000. */
  keepAliveMs?: number;
  /**
   * Cluster mode: the server ends a transaction of this node that waits longer than this between
   * statements: a node paused or cut off in the middle of a commit must not hold the append lock or
   * lease rows the other nodes wait for.
   */
  idleInTransactionMs?: number;
  /**
   * The longest the server may take to accept the first login (a server not up yet): the time the
   * start has left (DATABASE_CONNECT_TIMEOUT_MS), and never more than CONNECT_TIMEOUT_MS.
   */
  firstLoginMs?: number;
}

/** The longest a new connection may take to be accepted, at start and after. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * Waits at most `timeoutMs` for the server to accept a login, on a connection of its own: a server
 * not up yet fails here within the time the start has left, where the pools would wait their whole
 * CONNECT_TIMEOUT_MS (which they keep for the connections they make later).
 */
async function firstLogin(settings: pg.PoolConfig, timeoutMs: number): Promise<void> {
  const probe = new pg.Client({ ...settings, connectionTimeoutMillis: Math.max(1, Math.trunc(timeoutMs)) });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
  } finally {
    await probe.end().catch(() => undefined);
  }
}

/** How long after the server's statement timeout Pombo stops waiting for its answer (the server's cancel normally comes first). */
const ANSWER_GRACE_MS = 2000;
/** Pruning deletes in bulk: it may run this long (a first prune after a long stop, a lowered retention). */
const PRUNE_TIMEOUT_MS = 600_000;

/** Serializes migrations of Pombos starting together on one database. */
const MIGRATION_LOCK = 0x706f6d626f;
/** The newest position committed (the head row's last committed version: an append in flight holds a newer one). */
const HEAD = 'SELECT pos FROM pombo_log_head';

/** An event of a commit, before its position is allocated. */
interface NewEvent {
  id: string;
  request: AppendRequest;
  /** Its place among the batch's events of its instance (1, 2, …): its `seq` is the instance's last one plus this. */
  ordinal: number;
  data: string;
  extra: string | null;
  /** The event as committed, once its position is allocated. */
  stored?: StoredEvent;
}

const isNew = (event: StoredEvent | NewEvent): event is NewEvent => 'request' in event;

/** A row of pombo_idempotency_keys as its holder: the request's fingerprint and the events it stored. */
type KeyHolderRow = { fingerprint: string; event_ids: string[] };
const toKeyHolder = (row: KeyHolderRow): KeyHolder => ({ fingerprint: row.fingerprint, eventIds: row.event_ids });

type Outcome = { event: NewEvent; duplicate: false } | { event: StoredEvent | NewEvent; duplicate: true };

/** A batch checked and numbered before its statement: each call's outcome (or error), the instances it names, the events and claims to write. */
interface PreparedBatch {
  outcomes: Array<Outcome[] | Error>;
  instanceIds: string[];
  fresh: NewEvent[];
  claims: ClaimWrite[];
}

/** What an append's statement wrote, or the instances it found missing (it then wrote nothing). */
interface Written {
  appended: StoredEvent[];
  /** The newest position committed before the batch's. */
  previous: number;
  missing: string[];
}

/** The unique index or key a statement was refused by (a unique violation, 23505), else undefined. */
const violatedConstraint = (error: unknown): string | undefined =>
  (error as { code?: unknown }).code === '23505' ? (error as { constraint?: string }).constraint : undefined;
/** A producer id or an Idempotency-Key that another node stored between the look-up and the statement: the batch goes round again. */
const STORED_MEANWHILE = new Set(['pombo_events_producer', 'pombo_idempotency_keys_pkey']);
/** A number another instance holds, whichever node gave it (the unique index of owner_jid). */
const OWNER_JID_INDEX = 'pombo_instances_owner_jid';
const TOKEN_INDEX = 'pombo_instances_token';
const MAX_APPEND_ATTEMPTS = 5;
/** An instance edit whose row changed between its read and its write goes round again, at most this many times in all. */
const MAX_EDIT_ATTEMPTS = 50;

/**
 * Every call checked, serialized and numbered per instance; a call that names a missing instance, or
 * claims a key another request holds, fails alone. `stored`: the events stored under the batch's
 * producer ids, by scopedKey (the batch's new ones are added).
 */
function prepareBatch(batch: QueuedAppend[], stored: Map<string, StoredEvent | NewEvent>, keys: CommitKeys, missing: ReadonlySet<string>): PreparedBatch {
  const outcomes: Array<Outcome[] | Error> = [];
  const fresh: NewEvent[] = [];
  const instanceIds = new Set<string>();
  const ordinals = new Map<string, number>();
  for (const call of batch) {
    const { requests } = call;
    const claim = claimOf(call);
    // Nothing of the instance is known yet (names, senders and `seq`s come from the statement), only whether it went missing.
    const rows = appendRows(requests, (instanceId) => {
      if (missing.has(instanceId)) throw new Error(`instance ${instanceId} does not exist`);
    });
    if (rows instanceof Error) {
      outcomes.push(rows);
      continue;
    }
    const taken = claim && keys.refusal(claim);
    if (taken) {
      outcomes.push(taken);
      continue;
    }
    for (const { request } of rows) instanceIds.add(request.instanceId);
    const outcome = rows.map(({ request, data, extra }): Outcome => {
      const key = request.producerId === undefined ? undefined : scopedKey(request.instanceId, request.producerId);
      const first = key === undefined ? undefined : stored.get(key);
      if (first) return { event: first, duplicate: true };
      const ordinal = (ordinals.get(request.instanceId) ?? 0) + 1;
      ordinals.set(request.instanceId, ordinal);
      const event: NewEvent = { id: newEventId(), request, ordinal, data, extra };
      if (key !== undefined) stored.set(key, event);
      fresh.push(event);
      return { event, duplicate: false };
    });
    outcomes.push(outcome);
    if (claim) keys.hold(claim, outcome);
  }
  return { outcomes, instanceIds: [...instanceIds], fresh, claims: keys.claims };
}

/**
 * The server store: PostgreSQL through `pg`, in the schema the URI's `?schema=` names (Prisma's
 * convention, so Evolution API's setting works as it is; created when missing).
 *
 * Appends made while a commit is in flight are committed together by the next one (group commit),
 * all on one writer connection, one transaction at a time: a promise resolves only after COMMIT.
 * Positions come from the log's head row (`pombo_log_head`), moved by the statement that writes the
 * events, so a rolled-back commit leaves no gap; an instance's `seq` comes from its row, locked with
 * FOR UPDATE.
 *
 * Several Pombos may append to one log (cluster mode, docs/cluster.md): the head row's lock, taken by
 * the statement that writes the events and held to COMMIT, serializes every node's commits, so positions
 * become visible in commit order on every node: a reader that saw position p will never later see a
 * smaller one appear. Each commit NOTIFYs its new head; every node LISTENs (and polls as a fallback)
 * and hands its listeners the other nodes' events too, in order (see log-follower.ts). Reads and
 * instances use the other connections of the pool; the delivery ledger commits on a connection of its own.
 */
export class PostgresStore implements Store {
  readonly provider = 'postgresql';
  /** Listeners of appends and what each needs of other nodes' events (undefined: all). */
  private readonly listeners = new Map<AppendListener, (() => AppendInterest) | undefined>();
  private queue: QueuedAppend[] = [];
  /** The commit in flight (appends queue behind it), or undefined. */
  private appending: Promise<void> | undefined;
  private ledgerQueue: QueuedLedgerWrite[] = [];
  private ledgerWriting: Promise<void> | undefined;
  /** Publishes every node's committed events to the listeners; its head outlives a prune that empties the log. */
  private readonly follower: LogFollower;
  private readonly notifications: AppendNotifications;
  readonly cluster: ClusterTables;

  private constructor(
    private readonly pool: pg.Pool,
    /** A pool of one: the writer connection of this node's appends (replaced if the connection breaks). */
    private readonly writer: pg.Pool,
    /** A pool of one: the connection of this node's ledger commits, opened with synchronous_commit off (see commitLedger). */
    private readonly ledgerWriter: pg.Pool,
    private readonly schema: string,
    listenSettings: pg.ClientConfig,
    head: number,
  ) {
    this.cluster = new ClusterTables(pool, schema);
    this.follower = new LogFollower(head, {
      read: (after, until, limit) => this.readWanted(after, until, limit),
      publish: (events, head) => {
        for (const listener of this.listeners.keys()) listener(events, head);
      },
      failed: () => undefined,
    });
    this.notifications = new AppendNotifications(listenSettings, schema, () => this.committedHead(), (pos) => this.follower.heard(pos), this.cluster.notices);
  }

  /**
   * Connects, creates the schema if missing and migrates it; throws when the server cannot be reached.
   * Every connection has TCP keepalive and the statement timeout (`options`), so a node cut off from
   * the database notices (its statements fail) instead of waiting for ever.
   */
  static async open(uri: string, options: PostgresOptions = {}): Promise<PostgresStore> {
    const { connectionString, schema } = parsePostgresUri(uri);
    const { statementTimeoutMs = 30_000, keepAliveMs = 10_000, idleInTransactionMs, firstLoginMs = CONNECT_TIMEOUT_MS } = options;
    const idle = idleInTransactionMs ? ` -c idle_in_transaction_session_timeout=${Math.trunc(idleInTransactionMs)}` : '';
    const statements = statementTimeoutMs > 0 ? ` -c statement_timeout=${Math.trunc(statementTimeoutMs)}` : '';
    const settings: pg.PoolConfig = {
      connectionString,
      types: TYPES,
      // Every connection works in the schema (unqualified names, as the migrations write them).
      options: `-c search_path="${schema}"${idle}${statements}`,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: 'pombo',
      keepAlive: true,
      keepAliveInitialDelayMillis: keepAliveMs,
      ...(statementTimeoutMs > 0 ? { query_timeout: statementTimeoutMs + ANSWER_GRACE_MS } : {}),
    };
    // With less time left than the pools' own connect timeout, which bounds their first login as well.
    if (firstLoginMs < CONNECT_TIMEOUT_MS) await firstLogin(settings, firstLoginMs);
    const pool = new pg.Pool({ ...settings, max: 10 });
    const writer = new pg.Pool({ ...settings, max: 1 });
    // Set for the session: a setting of the commit itself would need a transaction block, so round trips.
    const ledgerWriter = new pg.Pool({ ...settings, options: `${settings.options} -c synchronous_commit=off`, max: 1 });
    for (const connections of [pool, writer, ledgerWriter]) {
      // An idle connection the server drops is replaced on next use; without a listener it would crash Pombo.
      connections.on('error', () => undefined);
      // So would one the server ends while it is checked out between two statements (a transaction of a
      // paused node ended by idle_in_transaction_session_timeout, a terminated backend): the pool listens
      // only to idle connections. Its next statement fails instead, and the connection is dropped.
      connections.on('connect', (client) => client.on('error', () => undefined));
    }
    try {
      await migrate(pool, schema);
      // The head row as the last commit left it (it survives a prune that empties the log; an append in flight is not counted until it commits).
      const head = (await pool.query<{ pos: number }>(HEAD)).rows[0]?.pos ?? 0;
      const store = new PostgresStore(pool, writer, ledgerWriter, schema, settings, head);
      // A commit between the head's read and LISTEN is found by the poll.
      await store.notifications.start();
      return store;
    } catch (error) {
      await Promise.all([pool.end(), writer.end(), ledgerWriter.end()]).catch(() => undefined);
      throw error;
    }
  }

  // ---- event log -------------------------------------------------------------------------------

  append(requests: readonly AppendRequest[], claim?: KeyClaim): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ requests, claim, resolve, reject });
      if (!this.appending) this.appending = this.drainAppends();
    });
  }

  /** Commits queued appends, one transaction per turn, until the queue stays empty. */
  private async drainAppends(): Promise<void> {
    // Let the rest of this tick queue its appends: they share the commit.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length) {
        const batch = this.queue;
        this.queue = [];
        await this.commitAppends(batch);
      }
    } finally {
      this.appending = undefined;
    }
  }

  /**
   * The batch in one statement, one round trip, committed on its own (no transaction held across a
   * round trip to this node): the instances' rows locked, the log's head row moved by the batch's size,
   * the events inserted with their positions and `seq`s, the `seq`s moved, the NOTIFY queued. What
   * needs no lock is done before (every call checked and serialized, producer ids looked up). Each lock
   * is held only while PostgreSQL runs the statement, never while a node's event loop gets to its next
   * one, so several nodes append without queuing on one another's round trips.
   *
   * Rare cases go round again: an instance that no longer exists (the statement writes nothing; its
   * calls fail, the others are written), a producer id or an Idempotency-Key another node stored between
   * the look-up and the statement (a unique index refuses it; the look-up then finds it).
   */
  private async commitAppends(batch: QueuedAppend[]): Promise<void> {
    const missing = new Set<string>();
    let heldAtStart: ReadonlySet<string> | undefined;
    let prepared: PreparedBatch;
    let written: Written;
    for (let attempt = 1; ; attempt++) {
      try {
        const [events, holders] = await Promise.all([this.eventsOfProducers(batch, missing), this.keyHolders(batch, missing)]);
        // A key found held only on a later attempt was claimed by another node while this commit was under way.
        heldAtStart ??= new Set(holders.keys());
        prepared = prepareBatch(batch, events, new CommitKeys(holders, heldAtStart), missing);
        written = await this.writeEvents(prepared);
      } catch (error) {
        if (STORED_MEANWHILE.has(violatedConstraint(error) ?? '') && attempt < MAX_APPEND_ATTEMPTS) continue;
        for (const item of batch) item.reject(error);
        return;
      }
      if (written.missing.length === 0) break;
      for (const id of written.missing) missing.add(id);
    }
    // Listeners hear of the events before their appenders do, as when a node is alone.
    if (written.appended.length) await this.follower.committed(written.appended, written.previous);
    batch.forEach((item, index) => {
      const outcome = prepared.outcomes[index];
      if (outcome instanceof Error || outcome === undefined) item.reject(outcome);
      else item.resolve(outcome.map(({ event, duplicate }) => ({ event: isNew(event) ? (event.stored as StoredEvent) : event, duplicate })));
    });
  }

  /** The newest position committed by any node (0 when the log is empty). */
  private async committedHead(): Promise<number> {
    return (await this.pool.query<{ pos: number | null }>(HEAD)).rows[0]?.pos ?? 0;
  }

  /**
   * The statement of an append (see commitAppends). The instances' rows are locked first, in id order
   * (every append takes them in that order, then the head row: no deadlock); a row waited for is read
   * as the commit before left it, and so is the head row. When an instance of the batch no longer
   * exists, nothing is written and the statement answers which ones are there. Event times are the
   * batch's, never before the newest event's, so times never go back along the log even when a node's
   * clock is behind another's. Key claims are written with the events (their event ids as JSON arrays):
   * a new key is inserted, so another node's claim of it meanwhile fails the statement (the batch goes
   * round again); a held one is renewed by an upsert, so it is written even when another node's prune
   * deleted it meanwhile.
   */
  private async writeEvents(prepared: PreparedBatch): Promise<Written> {
    const { instanceIds, fresh, claims } = prepared;
    if (!instanceIds.length) return { appended: [], previous: 0, missing: [] };
    // Each instance's events added: its last event's ordinal.
    const counts = new Map<string, number>();
    for (const event of fresh) counts.set(event.request.instanceId, event.ordinal);
    const result = await this.writer.query<{ id: string; name: string; owner_jid: string | null; last_seq: number; last: number | null; created_at: number | null }>(
      `WITH locked AS (SELECT id, name, owner_jid, last_seq FROM pombo_instances WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE),
       complete AS (SELECT count(*) = cardinality($1::text[]) AS yes FROM locked),
       head AS (
         UPDATE pombo_log_head SET pos = pos + $2::int8, created_at = GREATEST(created_at, $3::int8)
         WHERE $2::int8 > 0 AND (SELECT yes FROM complete) RETURNING pos AS last, created_at
       ),
       inserted AS (
         INSERT INTO pombo_events (pos, id, instance_id, instance, seq, event, data, sender, producer_id, created_at, extra)
         SELECT head.last - $2::int8 + e.n, e.id, e.instance_id, l.name, l.last_seq + e.ordinal, e.event, e.data, l.owner_jid, e.producer_id, head.created_at, e.extra
         FROM head, unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[])
           WITH ORDINALITY AS e(id, instance_id, event, data, producer_id, extra, ordinal, n)
           JOIN locked AS l ON l.id = e.instance_id
       ),
       moved AS (
         UPDATE pombo_instances AS i SET last_seq = l.last_seq + c.added
         FROM locked AS l, unnest($11::text[], $12::int8[]) AS c(id, added)
         WHERE i.id = l.id AND c.id = l.id AND EXISTS (SELECT 1 FROM head)
       ),
       claims AS (
         SELECT c.instance_id, c.key, c.fingerprint, ARRAY(SELECT json_array_elements_text(c.event_ids::json)) AS event_ids, c.renews
         FROM unnest($14::text[], $15::text[], $16::text[], $17::text[], $18::bool[]) AS c(instance_id, key, fingerprint, event_ids, renews)
         WHERE (SELECT yes FROM complete)
       ),
       claimed AS (
         INSERT INTO pombo_idempotency_keys (instance_id, key, fingerprint, event_ids, created_at)
         SELECT instance_id, key, fingerprint, event_ids, $3::int8 FROM claims WHERE NOT renews
       ),
       renewed AS (
         INSERT INTO pombo_idempotency_keys (instance_id, key, fingerprint, event_ids, created_at)
         SELECT instance_id, key, fingerprint, event_ids, $3::int8 FROM claims WHERE renews
         ON CONFLICT (instance_id, key) DO UPDATE SET event_ids = EXCLUDED.event_ids, created_at = EXCLUDED.created_at
           WHERE pombo_idempotency_keys.fingerprint = EXCLUDED.fingerprint
       )
       -- One row per instance; their NOTIFYs are the same, and PostgreSQL sends one per transaction.
       SELECT l.id, l.name, l.owner_jid, l.last_seq, head.last, head.created_at,
              CASE WHEN head.last IS NULL THEN NULL ELSE pg_notify('${APPEND_CHANNEL}', $13::text || ' ' || head.last) END
       FROM locked AS l LEFT JOIN head ON true`,
      [
        instanceIds,
        fresh.length,
        Date.now(),
        fresh.map((item) => item.id),
        fresh.map((item) => item.request.instanceId),
        fresh.map((item) => item.request.event),
        fresh.map((item) => item.data),
        fresh.map((item) => item.request.producerId ?? null),
        fresh.map((item) => item.extra),
        fresh.map((item) => item.ordinal),
        [...counts.keys()],
        [...counts.values()],
        this.schema,
        claims.map(({ claim }) => claim.instanceId),
        claims.map(({ claim }) => claim.key),
        claims.map(({ claim }) => claim.fingerprint),
        claims.map(({ eventIds }) => JSON.stringify(eventIds)),
        claims.map(({ renews }) => renews),
      ],
    );
    const found = new Map(result.rows.map((row) => [row.id, row]));
    const missing = instanceIds.filter((id) => !found.has(id));
    const first = result.rows[0];
    if (missing.length || !fresh.length || !first || first.last === null) return { appended: [], previous: 0, missing };
    const previous = first.last - fresh.length;
    const createdAt = isoTime(first.created_at as number);
    const appended = fresh.map((item, index) => {
      const { request } = item;
      const instance = found.get(request.instanceId) as { name: string; owner_jid: string | null; last_seq: number };
      item.stored = new LoggedEvent(previous + 1 + index, item.id, request.instanceId, instance.name, instance.last_seq + item.ordinal, request.event, item.data, instance.owner_jid, createdAt, item.extra, request.data ?? null);
      return item.stored;
    });
    return { appended, previous, missing };
  }

  /** The events already stored under the producer ids this batch carries, by scopedKey (read without a lock: see commitAppends). */
  private async eventsOfProducers(batch: QueuedAppend[], missing: ReadonlySet<string>): Promise<Map<string, StoredEvent | NewEvent>> {
    const instanceIds: string[] = [];
    const producerIds: string[] = [];
    for (const { requests } of batch) {
      for (const { instanceId, producerId } of requests) {
        if (producerId !== undefined && !missing.has(instanceId)) {
          instanceIds.push(instanceId);
          producerIds.push(producerId);
        }
      }
    }
    const known = new Map<string, StoredEvent | NewEvent>();
    if (!producerIds.length) return known;
    const found = await this.pool.query<[...EventTuple, string]>({
      text: `SELECT ${EVENT_COLUMNS}, producer_id FROM pombo_events
             WHERE (instance_id, producer_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      values: [instanceIds, producerIds],
      rowMode: 'array',
    });
    // The producer id follows the event's columns.
    for (const row of found.rows) {
      const event = toEvent(row.slice(0, 10) as EventTuple);
      known.set(scopedKey(event.instanceId, row[10]), event);
    }
    return known;
  }

  async keyHolder(instanceId: string, key: string): Promise<KeyHolder | undefined> {
    const found = await this.pool.query<KeyHolderRow>('SELECT fingerprint, event_ids FROM pombo_idempotency_keys WHERE instance_id = $1 AND key = $2', [instanceId, key]);
    const [row] = found.rows;
    return row && toKeyHolder(row);
  }

  /** Who holds the keys this batch claims, by scopedKey (read without a lock: see commitAppends). */
  private async keyHolders(batch: QueuedAppend[], missing: ReadonlySet<string>): Promise<Map<string, KeyHolder>> {
    const claims = batch.flatMap((call) => {
      const claim = claimOf(call);
      return claim && !missing.has(claim.instanceId) ? [claim] : [];
    });
    const holders = new Map<string, KeyHolder>();
    if (!claims.length) return holders;
    const found = await this.pool.query<KeyHolderRow & { instance_id: string; key: string }>(
      `SELECT instance_id, key, fingerprint, event_ids FROM pombo_idempotency_keys
       WHERE (instance_id, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [claims.map((claim) => claim.instanceId), claims.map((claim) => claim.key)],
    );
    for (const row of found.rows) holders.set(scopedKey(row.instance_id, row.key), toKeyHolder(row));
    return holders;
  }


  async read(query: ReadQuery): Promise<StoredEvent[]> {
    const params: unknown[] = [];
    const where: string[] = [];
    const filter = (condition: (placeholder: string) => string, value: unknown) => {
      params.push(value);
      where.push(condition(`$${params.length}`));
    };
    filter((p) => `pos > ${p}`, query.afterPos ?? 0);
    if (query.untilPos !== undefined) filter((p) => `pos <= ${p}`, query.untilPos);
    if (query.instanceId !== undefined) filter((p) => `instance_id = ${p}`, query.instanceId);
    if (query.fromTime !== undefined) filter((p) => `created_at >= ${p}`, Date.parse(query.fromTime));
    if (query.toTime !== undefined) filter((p) => `created_at <= ${p}`, Date.parse(query.toTime));
    if (query.events?.length) filter((p) => `event = ANY(${p}::text[])`, query.events);
    params.push(query.limit);
    const text = `SELECT ${EVENT_COLUMNS} FROM pombo_events WHERE ${where.join(' AND ')} ORDER BY pos LIMIT $${params.length}`;
    const result = await this.pool.query<EventTuple>({ text, values: params, rowMode: 'array' });
    return result.rows.map(toEvent);
  }

  async getByIds(ids: readonly string[]): Promise<StoredEvent[]> {
    if (!ids.length) return [];
    const result = await this.pool.query<EventTuple>({
      text: `SELECT ${EVENT_COLUMNS} FROM pombo_events WHERE id = ANY($1::text[]) ORDER BY pos`,
      values: [ids],
      rowMode: 'array',
    });
    return result.rows.map(toEvent);
  }

  /**
   * The newest position this node's listeners have been given: no query (it outlives a prune that
   * empties the log). Another node's appends count once they are heard of, within milliseconds.
   */
  async headPosition(): Promise<number> {
    return this.follower.head;
  }

  async tailPosition(): Promise<number | undefined> {
    const result = await this.pool.query<{ pos: number | null }>('SELECT MIN(pos) AS pos FROM pombo_events');
    return result.rows[0]?.pos ?? undefined;
  }

  async countBetween(afterPos: number, untilPos: number): Promise<number> {
    const result = await this.pool.query<{ n: string }>('SELECT COUNT(*) AS n FROM pombo_events WHERE pos > $1 AND pos <= $2', [afterPos, untilPos]);
    return Number(result.rows[0]?.n ?? 0);
  }

  async countOfInstance(instanceId: string, afterPos: number, untilPos: number): Promise<number> {
    const result = await this.pool.query<{ n: string }>('SELECT COUNT(*) AS n FROM pombo_events WHERE instance_id = $1 AND pos > $2 AND pos <= $3', [instanceId, afterPos, untilPos]);
    return Number(result.rows[0]?.n ?? 0);
  }

  async lastPositionOf(instanceId: string): Promise<number> {
    const result = await this.pool.query<{ pos: number | null }>('SELECT MAX(pos) AS pos FROM pombo_events WHERE instance_id = $1', [instanceId]);
    return result.rows[0]?.pos ?? 0;
  }

  /** Deletes in bulk, so beyond the statement timeout: in a transaction of its own that allows it PRUNE_TIMEOUT_MS. */
  async prune(before: Date): Promise<number> {
    const long = (text: string) => ({ text, values: [before.getTime()], query_timeout: PRUNE_TIMEOUT_MS + ANSWER_GRACE_MS });
    return inTransaction(this.pool, async (client) => {
      await client.query(`SET LOCAL statement_timeout = ${PRUNE_TIMEOUT_MS}`);
      const removed = await client.query(
        long(`DELETE FROM pombo_events AS e WHERE created_at < $1
              AND NOT EXISTS (SELECT 1 FROM pombo_deliveries AS d WHERE d.status = 'pending' AND d.pos = e.pos)`),
      );
      await client.query(long("DELETE FROM pombo_deliveries WHERE status <> 'pending' AND updated_at < $1"));
      // A key is held as long as an event of its request is (a pending delivery can keep one): a retry is then still a retry.
      await client.query(
        long(`DELETE FROM pombo_idempotency_keys AS k WHERE created_at < $1
              AND NOT EXISTS (SELECT 1 FROM pombo_events AS e WHERE e.id = ANY (k.event_ids))`),
      );
      return removed.rowCount ?? 0;
    });
  }

  onAppend(listener: AppendListener, interest?: () => AppendInterest): () => void {
    this.listeners.set(listener, interest);
    return () => this.listeners.delete(listener);
  }

  /**
   * Other nodes' events that this node's listeners want, in a catch-up of the log: those of the
   * instances they follow and of the kinds they ask for, or none at all (no query) when nobody here
   * wants any. A node then reads only its share of the log, not every node's every event.
   */
  private async readWanted(after: number, until: number, limit: number): Promise<FollowedPage> {
    const wanted = this.wanted();
    const current = () => wanted.includes(this.wanted());
    if (wanted.all) return { events: await this.read({ afterPos: after, untilPos: until, limit }), current };
    if (wanted.nothing) return { events: [], current };
    const result = await this.pool.query<EventTuple>({
      text: `SELECT ${EVENT_COLUMNS} FROM pombo_events WHERE pos > $1 AND pos <= $2
               AND (instance_id = ANY($3::text[]) OR event = ANY($4::text[])) ORDER BY pos LIMIT $5`,
      values: [after, until, [...wanted.instances], [...wanted.events], limit],
      rowMode: 'array',
    });
    return { events: result.rows.map(toEvent), current };
  }

  private wanted(): Wanted {
    return new Wanted([...this.listeners.values()].map((interest) => interest?.()));
  }

  // ---- instances -------------------------------------------------------------------------------

  async createInstance(instance: NewInstance): Promise<Instance> {
    const result = await this.pool
      .query<InstanceRow>(
        `INSERT INTO pombo_instances (id, name, token, integration, number, channels, created_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) RETURNING *`,
        [instance.id, instance.name, instance.token, instance.integration, instance.number, JSON.stringify(instance.channels), new Date().toISOString()],
      )
      .catch((error: unknown) => {
        throw violatedConstraint(error) === TOKEN_INDEX ? new TokenTakenError() : error;
      });
    return toInstance(result.rows[0] as InstanceRow);
  }

  async getInstance(name: string): Promise<Instance | undefined> {
    const result = await this.pool.query<InstanceRow>('SELECT * FROM pombo_instances WHERE name = $1', [name]);
    return result.rows[0] && toInstance(result.rows[0]);
  }

  async getInstanceById(id: string): Promise<Instance | undefined> {
    const result = await this.pool.query<InstanceRow>('SELECT * FROM pombo_instances WHERE id = $1', [id]);
    return result.rows[0] && toInstance(result.rows[0]);
  }

  async listInstances(): Promise<Instance[]> {
    return (await this.pool.query<InstanceRow>('SELECT * FROM pombo_instances ORDER BY created_at, name')).rows.map(toInstance);
  }

  async updateInstance(id: string, patch: InstancePatch): Promise<Instance | undefined> {
    const columns = patchColumns(patch);
    if (!columns.length) return this.getInstanceById(id);
    const sets = [...columns.map(([column], index) => `${column} = $${index + 2}`), 'version = version + 1'].join(', ');
    const write = this.cluster.notifyingInstanceWrite(`UPDATE pombo_instances SET ${sets} WHERE id = $1 RETURNING *`, [id, ...columns.map(([, value]) => value)]);
    const result = await this.pool.query<InstanceRow>(write).catch((error: unknown) => {
      throw violatedConstraint(error) === OWNER_JID_INDEX && patch.ownerJid ? new OwnerJidTakenError(patch.ownerJid) : error;
    });
    return result.rows[0] && toInstance(result.rows[0]);
  }

  /**
   * A compare-and-set, with no transaction: the row is read, changed, and written only if its channels
   * are still as read (compared as JSONB: configuration-sized), else read again. No lock is held across
   * a round trip to this node: an edit of a node paused between its read and its write holds up no
   * other node's appends (which lock the row in their statement) nor edits; its write then fails and it
   * goes round again over what they wrote.
   */
  async editChannels(id: string, change: ChannelsEdit): Promise<Instance | undefined> {
    for (let attempt = 1; attempt <= MAX_EDIT_ATTEMPTS; attempt++) {
      // The channels as text too: what the write compares with, exactly as stored (no trip through JS numbers).
      const read = await this.pool.query<InstanceRow & { channels_text: string }>('SELECT *, channels::text AS channels_text FROM pombo_instances WHERE id = $1', [id]);
      const row = read.rows[0];
      if (!row) return undefined;
      const set = JSON.stringify(change(toInstance(row)));
      const written = await this.pool.query<InstanceRow>(
        this.cluster.notifyingInstanceWrite('UPDATE pombo_instances SET channels = channels || $2::jsonb, version = version + 1 WHERE id = $1 AND channels = $3::jsonb RETURNING *', [id, set, row.channels_text]),
      );
      if (written.rows[0]) return toInstance(written.rows[0]);
    }
    throw new Error(`the channels of instance ${id} changed under each of ${MAX_EDIT_ATTEMPTS} attempts to edit them: nothing was written`);
  }

  async deleteInstance(id: string): Promise<void> {
    await this.pool.query('DELETE FROM pombo_instances WHERE id = $1', [id]);
  }

  // ---- deliveries ------------------------------------------------------------------------------

  async getCursor(destination: string): Promise<number | undefined> {
    const result = await this.pool.query<{ pos: number }>('SELECT pos FROM pombo_cursors WHERE destination = $1', [destination]);
    return result.rows[0]?.pos;
  }

  /**
   * Writes made while a ledger commit is in flight, by any destinations, are committed together by the
   * next one, in order, like appends: a thousand realtime subscribers moving their cursors cost one commit.
   */
  saveDeliveries(destination: string, records: readonly DeliveryRecord[], cursor?: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ledgerQueue.push({ destination, records, cursor, resolve, reject });
      if (!this.ledgerWriting) this.ledgerWriting = this.drainLedger();
    });
  }

  private async drainLedger(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    while (this.ledgerQueue.length) {
      const batch = this.ledgerQueue;
      this.ledgerQueue = [];
      let stale: Map<string, RefusedWrite>;
      try {
        stale = await this.commitLedger(batch);
      } catch (error) {
        for (const write of batch) write.reject(error);
        continue;
      }
      for (const write of batch) {
        const refused = stale.get(write.destination);
        if (refused === undefined) write.resolve();
        else {
          this.cluster.onFencedWrite?.(write.destination, refused.epoch, refused.kind);
          write.reject(new LeaseLostError(write.destination));
        }
      }
    }
    this.ledgerWriting = undefined;
  }

  /**
   * One statement for the batch, so one round trip (ledger-commit.ts). Ledger commits only record
   * progress, so they do not wait for the WAL flush (synchronous_commit off, set on the ledger writer's
   * connection): a crash of the server can lose only the last ones, whole and in order (the next append's
   * commit flushes them), which means delivering those events again, never losing one.
   * Writes of a destination whose lease this node lost (cluster mode) are left out: answers their
   * destinations, each with the epoch its writes held and its lease's kind.
   */
  private async commitLedger(batch: QueuedLedgerWrite[]): Promise<Map<string, RefusedWrite>> {
    const fences = this.cluster.fencesOf(batch.map((write) => write.destination));
    const statement = ledgerStatement(batch, fences, Date.now());
    if (!statement) return new Map();
    const result = await this.ledgerWriter.query<RefusedWrite>(statement);
    return new Map(result.rows.map((row) => [row.id, row]));
  }

  async listDeliveries(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    const params: unknown[] = [query.destination, query.afterPos ?? 0];
    const where = ['destination = $1', 'pos > $2'];
    if (query.status) where.push(`status = $${params.push(query.status)}`);
    if (query.event) where.push(`event = $${params.push(query.event)}`);
    const sql = `SELECT * FROM pombo_deliveries WHERE ${where.join(' AND ')} ORDER BY pos LIMIT $${params.push(query.limit)}`;
    return (await this.pool.query<DeliveryRow>(sql, params)).rows.map(toDelivery);
  }

  /** One query for all the destinations (the manager asks every 3 s): an index range of each, as in `listDeliveries`. */
  async failedDeliveries(destinations: readonly string[], perDestination: number): Promise<DeliveryRecord[]> {
    if (!destinations.length) return [];
    const sql = `SELECT r.* FROM unnest($1::text[]) WITH ORDINALITY AS d(destination, n)
      CROSS JOIN LATERAL (SELECT * FROM pombo_deliveries WHERE destination = d.destination AND status = 'failed' ORDER BY pos LIMIT $2) AS r
      ORDER BY d.n, r.pos`;
    return (await this.pool.query<DeliveryRow>(sql, [[...new Set(destinations)], perDestination])).rows.map(toDelivery);
  }

  async pendingDeliveries(destination: string, limit: number): Promise<DeliveryRecord[]> {
    return this.listDeliveries({ destination, status: 'pending', limit });
  }

  async ledgerFigures(destinations: readonly string[]): Promise<Map<string, LedgerFigures>> {
    const figures = new Map<string, LedgerFigures>();
    if (!destinations.length) return figures;
    // One round trip for them all; each count a range of the status index.
    const sql = `SELECT d.destination, c.pos AS cursor,
        (SELECT COUNT(*) FROM pombo_deliveries r WHERE r.destination = d.destination AND r.status = 'pending' AND r.pos <= c.pos) AS pending,
        (SELECT COUNT(*) FROM pombo_deliveries r WHERE r.destination = d.destination AND r.status = 'failed') AS failed
      FROM unnest($1::text[]) AS d(destination) LEFT JOIN pombo_cursors c ON c.destination = d.destination`;
    const { rows } = await this.pool.query<{ destination: string; cursor: number | null; pending: number; failed: number }>(sql, [[...new Set(destinations)]]);
    for (const row of rows) figures.set(row.destination, { cursor: row.cursor ?? undefined, pending: row.pending, failed: row.failed });
    return figures;
  }

  async deleteDestination(destination: string, { children = false } = {}): Promise<void> {
    // Children by prefix (a scan: only an instance's deletion asks for them; the key's collation may
    // not order ':' as bytes do, so a key range would not find them all).
    const which = children ? 'destination = $1 OR starts_with(destination, $2)' : 'destination = $1';
    const params = children ? [destination, `${destination}:`] : [destination];
    const subscribers = which.replaceAll('destination', 'subscriber');
    // One statement, so they all go together (cluster mode: a realtime subscriber's lease with its floor,
    // the replays queued for a destination).
    await this.pool.query(
      `WITH records AS (DELETE FROM pombo_deliveries WHERE ${which}), leases AS (DELETE FROM pombo_subscriber_leases WHERE ${subscribers}),
         replays AS (DELETE FROM pombo_replays WHERE ${which})
       DELETE FROM pombo_cursors WHERE ${which}`,
      params,
    );
  }

  async listChildren(destination: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ destination: string }>('SELECT destination FROM pombo_cursors WHERE starts_with(destination, $1)', [`${destination}:`]);
    return rows.map((row) => row.destination);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** Commits what is still queued, then closes the connections. */
  async close(): Promise<void> {
    while (this.appending || this.ledgerWriting) await Promise.all([this.appending, this.ledgerWriting]);
    await this.notifications.close();
    await this.follower.settled();
    await Promise.all([this.pool.end(), this.writer.end(), this.ledgerWriter.end()]);
  }
}

/**
 * `work` in a transaction on a connection of the pool: committed when it resolves, rolled back when it
 * throws (a connection that cannot even roll back is dropped, not handed out again).
 */
async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (error) {
    const broken = await client.query('ROLLBACK').then(() => undefined, (rollbackError: unknown) => rollbackError as Error);
    client.release(broken);
    throw error;
  }
}

/** Creates the schema if missing and applies the migrations it has not seen, under a lock other Pombos wait on. */
async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    // Checked first: CREATE SCHEMA IF NOT EXISTS needs the right to create even when the schema exists.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (!exists.rowCount) await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query('CREATE TABLE IF NOT EXISTS pombo_schema_version (version INTEGER NOT NULL)');
    const current = await client.query<{ version: number }>('SELECT version FROM pombo_schema_version');
    let version = current.rows[0]?.version ?? 0;
    if (!current.rowCount) await client.query('INSERT INTO pombo_schema_version (version) VALUES (0)');
    for (; version < MIGRATIONS.length; version++) {
      await client.query(MIGRATIONS[version] ?? '');
      await client.query('UPDATE pombo_schema_version SET version = $1', [version + 1]);
    }
  });
}
