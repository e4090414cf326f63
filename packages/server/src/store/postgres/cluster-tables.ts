import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { HeldLease, LedgerFences } from './ledger-commit.ts';
import type { ClusterNodeRow, ClusterStore, LeaseKind, LeasedDestinationState, LeaseRow, QueuedReplay, SubscriberTakeover } from '../types.ts';

/** The database's clock in ms: every node compares times against the same clock. */
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::int8';

/** The NOTIFY channel of subscriber takeovers; the payload is the JSON array `[schema, node, epoch, subscriber]`. */
const TAKEOVER_CHANNEL = 'pombo_takeovers';
/** The NOTIFY channel of queued replays; the payload is the JSON array `[schema, destination]`. */
const REPLAY_CHANNEL = 'pombo_replays';
/** The NOTIFY channel of instance rows written (configuration, state); the payload is the JSON array `[schema, writer, instance id]`. */
const INSTANCE_CHANNEL = 'pombo_instance_writes';

/** The lease a fenced write must still hold: node and epoch, in the destinations' or the subscribers' table. */
interface Fence {
  readonly nodeId: string;
  readonly epoch: number;
  readonly kind: LeaseKind;
}

/** Heartbeats and leases of the nodes sharing a PostgreSQL log (docs/cluster.md). */
export class ClusterTables implements ClusterStore {
  /** The lease each fenced destination's (or subscriber's) writes must still hold. */
  private readonly fences = new Map<string, Fence>();
  /** Told of each write rejected because its lease moved, with the epoch the write held (metrics, logs). */
  onFencedWrite?: (id: string, epoch: number, kind: LeaseKind) => void;
  private readonly takeoverListeners = new Set<(takeover: SubscriberTakeover) => void>();
  private readonly replayListeners = new Set<(destination: string) => void>();
  private readonly instanceListeners = new Set<(instanceId: string) => void>();
  /** Which store wrote an instance row: a node does not read again what it wrote itself. */
  private readonly writer = randomUUID();
  /** What hears each NOTIFY channel of the cluster (on the store's listening connection). */
  readonly notices: Readonly<Record<string, (payload: string | undefined) => void>> = {
    [TAKEOVER_CHANNEL]: (payload) => {
      const notice = this.noticeOf(payload);
      if (!notice) return;
      const [nodeId, epoch, subscriber] = notice as [string, number, string];
      for (const listener of this.takeoverListeners) listener({ subscriber, nodeId, epoch: Number(epoch) });
    },
    [REPLAY_CHANNEL]: (payload) => {
      const [destination] = (this.noticeOf(payload) ?? []) as [string?];
      if (destination !== undefined) for (const listener of this.replayListeners) listener(destination);
    },
    [INSTANCE_CHANNEL]: (payload) => {
      const [writer, instanceId] = (this.noticeOf(payload) ?? []) as [string?, string?];
      if (writer !== this.writer && instanceId !== undefined) for (const listener of this.instanceListeners) listener(instanceId);
    },
  };

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  async heartbeat(node: { id: string; url: string; first?: boolean }, ttlMs: number): Promise<void> {
    // A process's first heartbeat starts it again under an id a process before it used (CLUSTER_NODE_ID).
    await this.pool.query(
      `INSERT INTO pombo_nodes (id, url, started_at, heartbeat_at, expires_at) VALUES ($1, $2, ${NOW_MS}, ${NOW_MS}, ${NOW_MS} + $3)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
         started_at = CASE WHEN $4 THEN excluded.started_at ELSE pombo_nodes.started_at END`,
      [node.id, node.url, ttlMs, node.first === true],
    );
  }

  async leave(nodeId: string): Promise<void> {
    await this.pool.query(
      `WITH freed AS (UPDATE pombo_leases SET node_id = NULL, expires_at = 0 WHERE node_id = $1) DELETE FROM pombo_nodes WHERE id = $1`,
      [nodeId],
    );
  }

  async nodes(): Promise<ClusterNodeRow[]> {
    const result = await this.pool.query<{ id: string; url: string; started_at: number; heartbeat_at: number; alive: boolean }>(
      `SELECT id, url, started_at, heartbeat_at, expires_at > ${NOW_MS} AS alive FROM pombo_nodes ORDER BY id`,
    );
    return result.rows.map((row) => ({
      id: row.id,
      url: row.url,
      startedAt: new Date(row.started_at).toISOString(),
      heartbeatAt: new Date(row.heartbeat_at).toISOString(),
      alive: row.alive,
    }));
  }

  async leases(): Promise<LeaseRow[]> {
    const result = await this.pool.query<{ destination: string; node_id: string | null; epoch: number; expires_at: number }>(
      'SELECT destination, node_id, epoch, expires_at FROM pombo_leases ORDER BY destination',
    );
    return result.rows.map((row) => ({ destination: row.destination, nodeId: row.node_id, epoch: row.epoch, expiresAt: new Date(row.expires_at).toISOString() }));
  }

  async renew(nodeId: string, held: ReadonlyMap<string, number>, ttlMs: number, statuses?: ReadonlyMap<string, string>): Promise<Map<string, number>> {
    if (!held.size) return new Map();
    const destinations = [...held.keys()];
    const result = await this.pool.query<{ destination: string; epoch: number }>(
      `UPDATE pombo_leases AS l SET expires_at = ${NOW_MS} + $4, status = COALESCE(v.status, l.status),
         status_at = CASE WHEN v.status IS NULL THEN l.status_at ELSE ${NOW_MS} END
       FROM unnest($2::text[], $3::int8[], $5::text[]) AS v(destination, epoch, status)
       WHERE l.destination = v.destination AND l.epoch = v.epoch AND l.node_id = $1 RETURNING l.destination, l.epoch`,
      [nodeId, destinations, [...held.values()], ttlMs, destinations.map((destination) => statuses?.get(destination) ?? null)],
    );
    return new Map(result.rows.map((row) => [row.destination, row.epoch]));
  }

  async claim(nodeId: string, wanted: readonly string[], max: number, ttlMs: number): Promise<Map<string, number>> {
    if (!wanted.length || max <= 0) return new Map();
    await this.pool.query('INSERT INTO pombo_leases (destination) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [wanted]);
    // SKIP LOCKED: nodes claiming at the same moment take different leases instead of waiting on each other.
    const result = await this.pool.query<{ destination: string; epoch: number }>(
      `WITH free AS (
         SELECT destination FROM pombo_leases WHERE destination = ANY($2::text[]) AND (node_id IS NULL OR node_id = $1 OR expires_at < ${NOW_MS})
         ORDER BY random() LIMIT $3 FOR UPDATE SKIP LOCKED)
       UPDATE pombo_leases AS l SET node_id = $1, epoch = l.epoch + 1, expires_at = ${NOW_MS} + $4,
         -- The previous holder's figures are not the new one's: none until it publishes its own.
         status = CASE WHEN l.node_id = $1 THEN l.status END, status_at = CASE WHEN l.node_id = $1 THEN l.status_at END
       FROM free WHERE l.destination = free.destination RETURNING l.destination, l.epoch`,
      [nodeId, wanted, max, ttlMs],
    );
    return new Map(result.rows.map((row) => [row.destination, row.epoch]));
  }

  async release(nodeId: string, held: ReadonlyMap<string, number>): Promise<void> {
    if (!held.size) return;
    await this.pool.query(
      `UPDATE pombo_leases AS l SET node_id = NULL, expires_at = 0 FROM unnest($2::text[], $3::int8[]) AS v(destination, epoch)
       WHERE l.destination = v.destination AND l.epoch = v.epoch AND l.node_id = $1`,
      [nodeId, [...held.keys()], [...held.values()]],
    );
  }

  fence(destination: string, nodeId: string, epoch: number): void {
    this.fences.set(destination, { nodeId, epoch, kind: 'destination' });
  }

  /**
   * Takes the subscribers for the node whoever holds them, each with a new epoch (one statement; the
   * rows are locked, so a floor write of the old holder in flight commits first and any later one is
   * refused), and tells the other nodes (NOTIFY, at commit).
   */
  async takeOverSubscribers(nodeId: string, subscribers: readonly string[]): Promise<Map<string, number>> {
    if (!subscribers.length) return new Map();
    const result = await this.pool.query<{ subscriber: string; epoch: number }>(
      `WITH taken AS (
         INSERT INTO pombo_subscriber_leases AS l (subscriber, node_id, epoch, taken_at) SELECT s, $1, 1, ${NOW_MS} FROM unnest($2::text[]) AS s
         ON CONFLICT (subscriber) DO UPDATE SET node_id = excluded.node_id, epoch = l.epoch + 1, taken_at = excluded.taken_at
         RETURNING l.subscriber, l.epoch)
       SELECT subscriber, epoch, pg_notify('${TAKEOVER_CHANNEL}', json_build_array($3::text, $1::text, epoch, subscriber)::text) FROM taken`,
      [nodeId, [...new Set(subscribers)], this.schema],
    );
    return new Map(result.rows.map((row) => [row.subscriber, row.epoch]));
  }

  async heldSubscribers(nodeId: string, held: ReadonlyMap<string, number>): Promise<Set<string>> {
    if (!held.size) return new Set();
    const result = await this.pool.query<{ subscriber: string }>(
      `SELECT l.subscriber FROM pombo_subscriber_leases AS l JOIN unnest($2::text[], $3::int8[]) AS v(subscriber, epoch)
       ON l.subscriber = v.subscriber AND l.epoch = v.epoch WHERE l.node_id = $1`,
      [nodeId, [...held.keys()], [...held.values()]],
    );
    return new Set(result.rows.map((row) => row.subscriber));
  }

  fenceSubscriber(subscriber: string, nodeId: string, epoch: number): void {
    this.fences.set(subscriber, { nodeId, epoch, kind: 'subscriber' });
  }

  unfence(id: string): void {
    this.fences.delete(id);
  }

  onTakeover(listener: (takeover: SubscriberTakeover) => void): () => void {
    this.takeoverListeners.add(listener);
    return () => this.takeoverListeners.delete(listener);
  }

  /** A notice's fields after the schema, when it is about this schema (one database can hold several logs). */
  private noticeOf(payload: string | undefined): unknown[] | undefined {
    try {
      const notice: unknown = JSON.parse(payload ?? '');
      return Array.isArray(notice) && notice[0] === this.schema ? notice.slice(1) : undefined;
    } catch {
      return undefined;
    }
  }

  async destinationStates(destinations: readonly string[]): Promise<Map<string, LeasedDestinationState>> {
    if (!destinations.length) return new Map();
    const result = await this.pool.query<{ destination: string; node_id: string | null; live: boolean | null; status: string | null; status_at: number | null; pos: number | null }>(
      `SELECT d.destination, l.node_id, l.expires_at > ${NOW_MS} AS live, l.status, l.status_at, c.pos
       FROM unnest($1::text[]) AS d(destination) LEFT JOIN pombo_leases AS l ON l.destination = d.destination
       LEFT JOIN pombo_cursors AS c ON c.destination = d.destination`,
      [[...new Set(destinations)]],
    );
    return new Map(
      result.rows.map((row) => [
        row.destination,
        {
          nodeId: row.live ? row.node_id : null,
          cursor: row.pos ?? undefined,
          status: row.status,
          statusAt: row.status_at === null ? null : new Date(row.status_at).toISOString(),
        },
      ]),
    );
  }

  async queueReplay(destination: string, eventIds: readonly string[]): Promise<void> {
    await this.pool.query(
      `WITH queued AS (INSERT INTO pombo_replays (destination, event_ids, requested_at) VALUES ($1, $2, ${NOW_MS}) RETURNING destination)
       SELECT pg_notify('${REPLAY_CHANNEL}', json_build_array($3::text, destination)::text) FROM queued`,
      [destination, eventIds, this.schema],
    );
  }

  async queuedReplays(nodeId: string, destinations: readonly string[]): Promise<QueuedReplay[]> {
    if (!destinations.length) return [];
    const result = await this.pool.query<{ id: number; destination: string; event_ids: string[] }>(
      `SELECT r.id, r.destination, r.event_ids FROM pombo_replays AS r JOIN pombo_leases AS l ON l.destination = r.destination
       WHERE r.destination = ANY($2::text[]) AND l.node_id = $1 ORDER BY r.id`,
      [nodeId, destinations],
    );
    return result.rows.map((row) => ({ id: row.id, destination: row.destination, eventIds: row.event_ids }));
  }

  async finishReplays(ids: readonly number[]): Promise<void> {
    if (ids.length) await this.pool.query('DELETE FROM pombo_replays WHERE id = ANY($1::int8[])', [ids]);
  }

  onReplayQueued(listener: (destination: string) => void): () => void {
    this.replayListeners.add(listener);
    return () => this.replayListeners.delete(listener);
  }

  /**
   * `update` (an UPDATE of `pombo_instances` … RETURNING *, with `values`) made to tell the other nodes,
   * at commit, which instances it wrote (one statement: no round trip more).
   */
  notifyingInstanceWrite(update: string, values: readonly unknown[]): { text: string; values: unknown[] } {
    const [schema, writer] = [values.length + 1, values.length + 2];
    return {
      text: `WITH written AS (${update}) SELECT written.*, pg_notify('${INSTANCE_CHANNEL}', json_build_array($${schema}::text, $${writer}::text, written.id)::text) FROM written`,
      values: [...values, this.schema, this.writer],
    };
  }

  onInstanceWritten(listener: (instanceId: string) => void): () => void {
    this.instanceListeners.add(listener);
    return () => this.instanceListeners.delete(listener);
  }

  async initCursor(destination: string, pos: number): Promise<void> {
    await this.pool.query(`INSERT INTO pombo_cursors (destination, pos, updated_at) VALUES ($1, $2, ${NOW_MS}) ON CONFLICT DO NOTHING`, [destination, pos]);
  }

  /**
   * The fences of the fenced destinations and subscribers among `destinations`: what a ledger commit
   * checks their lease rows against (see ledger-commit.ts).
   */
  fencesOf(destinations: Iterable<string>): LedgerFences {
    const fences = { destinations: [] as HeldLease[], subscribers: [] as HeldLease[] };
    for (const id of new Set(destinations)) {
      const fence = this.fences.get(id);
      if (fence) (fence.kind === 'subscriber' ? fences.subscribers : fences.destinations).push({ id, nodeId: fence.nodeId, epoch: fence.epoch });
    }
    return fences;
  }
}
