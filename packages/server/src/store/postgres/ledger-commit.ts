import type { DeliveryRecord, LeaseKind } from '../types.ts';
import type { QueuedLedgerWrite } from '../sql-rows.ts';

/** The lease a fenced destination's (or subscriber's) writes must still hold. */
export interface HeldLease {
  readonly id: string;
  readonly nodeId: string;
  readonly epoch: number;
}

/** What a ledger commit checks its writes against, in cluster mode (empty when no write is fenced). */
export interface LedgerFences {
  readonly destinations: readonly HeldLease[];
  readonly subscribers: readonly HeldLease[];
}

/** A statement and its parameters. */
export interface LedgerStatement {
  text: string;
  values: unknown[];
}

/** A write left out because its lease moved: the destination, the epoch this node's writes held, and what the lease is for. */
export interface RefusedWrite {
  id: string;
  epoch: number;
  kind: LeaseKind;
}

/**
 * A batch of ledger writes as one statement, so a commit costs one round trip: the upserts of the
 * deliveries and cursors and, when some writes are fenced (cluster mode), the check of their leases.
 * It returns the refused writes (`RefusedWrite`); undefined when there is nothing to do.
 */
export function ledgerStatement(batch: readonly QueuedLedgerWrite[], fences: LedgerFences, now: number): LedgerStatement | undefined {
  const values: unknown[] = [];
  const param = (value: unknown, type: string) => `$${values.push(value)}::${type}`;
  const fenced = fences.destinations.length > 0 || fences.subscribers.length > 0;
  const parts = fenced ? leaseCheck(fences, param) : [];
  // A write of a refused destination is left out whole: records and cursor.
  const kept = (owner: string) => (fenced ? `WHERE NOT EXISTS (SELECT 1 FROM refused WHERE refused.id = ${owner})` : '');
  const { records, cursors } = lastWrites(batch);
  if (records.length) {
    parts.push(`deliveries AS (
      INSERT INTO pombo_deliveries (destination, pos, event_id, instance_id, event, status, attempts, next_attempt_at, updated_at)
      SELECT r.destination, r.pos, r.event_id, r.instance_id, r.event, r.status, r.attempts, r.next_attempt_at, ${param(now, 'int8')}
      FROM unnest(${param(records.map(([owner]) => owner), 'text[]')}, ${param(records.map(([, r]) => r.destination), 'text[]')},
        ${param(records.map(([, r]) => r.pos), 'int8[]')}, ${param(records.map(([, r]) => r.eventId), 'text[]')},
        ${param(records.map(([, r]) => r.instanceId), 'text[]')}, ${param(records.map(([, r]) => r.event), 'text[]')},
        ${param(records.map(([, r]) => r.status), 'text[]')}, ${param(records.map(([, r]) => JSON.stringify(r.attempts)), 'text[]')},
        ${param(records.map(([, r]) => r.nextAttemptAt), 'int8[]')})
        AS r(owner, destination, pos, event_id, instance_id, event, status, attempts, next_attempt_at)
      ${kept('r.owner')}
      ON CONFLICT (destination, pos) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
        next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at)`);
  }
  if (cursors.size) {
    parts.push(`cursors AS (
      INSERT INTO pombo_cursors (destination, pos, updated_at)
      SELECT c.destination, c.pos, ${param(now, 'int8')} FROM unnest(${param([...cursors.keys()], 'text[]')}, ${param([...cursors.values()], 'int8[]')}) AS c(destination, pos)
      ${kept('c.destination')}
      ON CONFLICT (destination) DO UPDATE SET pos = excluded.pos, updated_at = excluded.updated_at)`);
  }
  if (!parts.length) return undefined;
  const answer = fenced ? 'SELECT id, epoch, kind FROM refused' : 'SELECT NULL::text AS id, NULL::int8 AS epoch, NULL::text AS kind WHERE false';
  return { text: `WITH ${parts.join(',\n')}\n${answer}`, values };
}

/**
 * The lease rows of the fenced writes, locked FOR SHARE until the commit: a claim by another node (which
 * takes the row FOR UPDATE) waits for this commit, and its worker then reads what it wrote; a claim that
 * committed first is what this statement reads once its lock is granted (PostgreSQL reads a row again
 * when it waited for it). A write is refused when its lease row is gone, or held by another node, or by
 * another epoch. A subscriber this node took again since (a newer connection here) is still served from
 * the same memory: its writes stay valid while the fence's epoch is being replaced by the newer one, so
 * only a lower epoch refuses them.
 */
function leaseCheck(fences: LedgerFences, param: (value: unknown, type: string) => string): string[] {
  const fenced = (leases: readonly HeldLease[]) => {
    const ids = param(leases.map((lease) => lease.id), 'text[]');
    return { ids, rows: `unnest(${ids}, ${param(leases.map((lease) => lease.nodeId), 'text[]')}, ${param(leases.map((lease) => lease.epoch), 'int8[]')}) AS f(id, node_id, epoch)` };
  };
  const destinations = fenced(fences.destinations);
  const subscribers = fenced(fences.subscribers);
  return [
    `destination_leases AS (SELECT destination AS id, node_id, epoch FROM pombo_leases WHERE destination = ANY(${destinations.ids}) FOR SHARE)`,
    `subscriber_leases AS (SELECT subscriber AS id, node_id, epoch FROM pombo_subscriber_leases WHERE subscriber = ANY(${subscribers.ids}) FOR SHARE)`,
    `refused AS (
      SELECT f.id, f.epoch, 'destination' AS kind FROM ${destinations.rows} LEFT JOIN destination_leases AS l ON l.id = f.id
      WHERE l.id IS NULL OR l.node_id IS DISTINCT FROM f.node_id OR l.epoch <> f.epoch
      UNION ALL
      SELECT f.id, f.epoch, 'subscriber' AS kind FROM ${subscribers.rows} LEFT JOIN subscriber_leases AS l ON l.id = f.id
      WHERE l.id IS NULL OR l.node_id IS DISTINCT FROM f.node_id OR l.epoch < f.epoch)`,
  ];
}

/**
 * One row per delivery, the last write of a position winning (one statement cannot update a row twice),
 * each with the destination whose write carries it; one cursor per destination, the last one.
 */
function lastWrites(batch: readonly QueuedLedgerWrite[]): { records: Array<[string, DeliveryRecord]>; cursors: Map<string, number> } {
  const records = new Map<string, [string, DeliveryRecord]>();
  const cursors = new Map<string, number>();
  for (const write of batch) {
    for (const record of write.records) records.set(`${record.pos}\u0000${record.destination}`, [write.destination, record]);
    if (write.cursor !== undefined) cursors.set(write.destination, write.cursor);
  }
  return { records: [...records.values()], cursors };
}
