import type pg from 'pg';
import type { ClusterNodeRow, ClusterStore, LeaseRow } from '../types.ts';

/** The database's clock in ms: every node compares times against the same clock. */
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::int8';

/** A cursor or delivery write of a destination whose lease went to another node. */
export class LeaseLostError extends Error {
  constructor(readonly destination: string) {
    super(`the lease of ${destination} went to another node: its delivery state was not written`);
    this.name = 'LeaseLostError';
  }
}

/** Heartbeats and leases of the nodes sharing a PostgreSQL log (docs/cluster.md). */
export class ClusterTables implements ClusterStore {
  /** The lease each fenced destination's writes must still hold: node and epoch. */
  private readonly fences = new Map<string, { nodeId: string; epoch: number }>();
  /** Told of each write rejected because its lease went elsewhere (metrics, logs). */
  onFencedWrite?: (destination: string) => void;

  constructor(private readonly pool: pg.Pool) {}

  async heartbeat(node: { id: string; url: string }, ttlMs: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO pombo_nodes (id, url, started_at, heartbeat_at, expires_at) VALUES ($1, $2, ${NOW_MS}, ${NOW_MS}, ${NOW_MS} + $3)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at`,
      [node.id, node.url, ttlMs],
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

  async renew(nodeId: string, held: ReadonlyMap<string, number>, ttlMs: number): Promise<Map<string, number>> {
    if (!held.size) return new Map();
    const result = await this.pool.query<{ destination: string; epoch: number }>(
      `UPDATE pombo_leases AS l SET expires_at = ${NOW_MS} + $4 FROM unnest($2::text[], $3::int8[]) AS v(destination, epoch)
       WHERE l.destination = v.destination AND l.epoch = v.epoch AND l.node_id = $1 RETURNING l.destination, l.epoch`,
      [nodeId, [...held.keys()], [...held.values()], ttlMs],
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
       UPDATE pombo_leases AS l SET node_id = $1, epoch = l.epoch + 1, expires_at = ${NOW_MS} + $4
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
    this.fences.set(destination, { nodeId, epoch });
  }

  async initCursor(destination: string, pos: number): Promise<void> {
    await this.pool.query(`INSERT INTO pombo_cursors (destination, pos, updated_at) VALUES ($1, $2, ${NOW_MS}) ON CONFLICT DO NOTHING`, [destination, pos]);
  }

  /**
   * Inside a ledger transaction: the fenced destinations among `destinations` whose lease is no longer
   * the one their writes hold. The lease rows are locked (FOR SHARE) until the transaction ends, so a
   * claim by another node waits for this commit and its worker then reads what it wrote.
   */
  async stale(client: pg.PoolClient, destinations: Iterable<string>): Promise<Set<string>> {
    const fenced = [...new Set(destinations)].filter((destination) => this.fences.has(destination));
    const stale = new Set<string>();
    if (!fenced.length) return stale;
    const result = await client.query<{ destination: string; node_id: string | null; epoch: number }>(
      'SELECT destination, node_id, epoch FROM pombo_leases WHERE destination = ANY($1::text[]) FOR SHARE',
      [fenced],
    );
    const current = new Map(result.rows.map((row) => [row.destination, row]));
    for (const destination of fenced) {
      const fence = this.fences.get(destination);
      const lease = current.get(destination);
      if (!lease || lease.node_id !== fence?.nodeId || lease.epoch !== fence.epoch) stale.add(destination);
    }
    return stale;
  }
}
