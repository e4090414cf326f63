import type { EventKey } from '../core/event-names.ts';
import { isoTime } from '../core/iso-time.ts';
import type { AppendRequest, AppendResult, DeliveryRecord, Instance, InstancePatch, KeyClaim, StoredEvent } from './types.ts';
import { LoggedEvent } from './logged-event.ts';

/**
 * What the SQL stores (SQLite, PostgreSQL) share: their rows as the database answers them, how those
 * become the store's values, and the writes they queue for group commits.
 */

export interface InstanceRow {
  id: string;
  name: string;
  token: string;
  integration: string;
  number: string | null;
  state: string;
  owner_jid: string | null;
  profile_name: string | null;
  /** JSON text (SQLite), or already parsed (PostgreSQL's JSONB). */
  channels: string | Record<string, unknown>;
  created_at: string;
  version: number;
}

export interface DeliveryRow {
  destination: string;
  pos: number;
  event_id: string;
  instance_id: string;
  event: string;
  status: string;
  attempts: string;
  next_attempt_at: number | null;
}

/** The columns of an event, in the order `toEvent` takes them (rows are read as arrays: no object per row). */
export const EVENT_COLUMNS = 'pos, id, instance_id, instance, seq, event, data, sender, created_at, extra';
export type EventTuple = [number, string, string, string, number, string, string, string | null, number, string | null];

export const toEvent = ([pos, id, instanceId, instance, seq, event, data, sender, createdAt, extra]: EventTuple): StoredEvent =>
  new LoggedEvent(pos, id, instanceId, instance, seq, event as EventKey, data, sender, isoTime(createdAt), extra);

export const toInstance = (row: InstanceRow): Instance => ({
  id: row.id,
  name: row.name,
  token: row.token,
  integration: row.integration as Instance['integration'],
  number: row.number,
  state: row.state as Instance['state'],
  ownerJid: row.owner_jid,
  profileName: row.profile_name,
  createdAt: row.created_at,
  channels: typeof row.channels === 'string' ? (JSON.parse(row.channels) as Record<string, unknown>) : row.channels,
  version: row.version,
});

export const toDelivery = (row: DeliveryRow): DeliveryRecord => ({
  destination: row.destination,
  pos: row.pos,
  eventId: row.event_id,
  instanceId: row.instance_id,
  event: row.event as EventKey,
  status: row.status as DeliveryRecord['status'],
  attempts: JSON.parse(row.attempts) as DeliveryRecord['attempts'],
  nextAttemptAt: row.next_attempt_at,
});

/** One instance's sequence during a commit. */
export interface InstanceHead {
  readonly name: string;
  readonly ownerJid: string | null;
  /** `last_seq` as stored before the commit. */
  readonly storedSeq: number;
  lastSeq: number;
}

/** One request of an append, checked: what the store knows of its instance (`H`), and its data as JSON text. */
export interface AppendRow<H = InstanceHead> {
  readonly request: AppendRequest;
  readonly head: H;
  readonly data: string;
  /** `request.extra` as JSON text, or null when the request has none. */
  readonly extra: string | null;
}

/**
 * A caller's requests checked before anything is written (an unknown instance, data that is not
 * JSON), so that a call is all or nothing without a savepoint: the rows, or the caller's error.
 */
export function appendRows<H>(requests: readonly AppendRequest[], headOf: (instanceId: string) => H): AppendRow<H>[] | Error {
  try {
    return requests.map((request) => {
      const data = JSON.stringify(request.data ?? null) as string | undefined;
      if (data === undefined) throw new Error('event data is not JSON');
      const extra = request.extra && Object.keys(request.extra).length ? JSON.stringify(request.extra) : null;
      return { request, head: headOf(request.instanceId), data, extra };
    });
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** A name scoped to its instance (a producer id, an Idempotency-Key) as one map key. */
export const scopedKey = (instanceId: string, name: string): string => `${instanceId}\u0000${name}`;

/** The columns `updateInstance` may set, by patch key. */
const PATCH_COLUMNS: Readonly<Record<keyof InstancePatch, string>> = { state: 'state', ownerJid: 'owner_jid', profileName: 'profile_name', number: 'number' };

/** A patch's columns and values (keys that are not columns are ignored; undefined sets NULL). */
export function patchColumns(patch: InstancePatch): Array<[column: string, value: string | null]> {
  return (Object.keys(patch) as Array<keyof InstancePatch>).filter((key) => key in PATCH_COLUMNS).map((key) => [PATCH_COLUMNS[key], patch[key] ?? null]);
}

/** One caller's append, waiting for the next group commit. */
export interface QueuedAppend {
  requests: readonly AppendRequest[];
  claim: KeyClaim | undefined;
  resolve: (results: AppendResult[]) => void;
  reject: (error: unknown) => void;
}

/** One destination's ledger write, waiting for the next ledger commit. */
export interface QueuedLedgerWrite {
  destination: string;
  records: readonly DeliveryRecord[];
  cursor: number | undefined;
  resolve: () => void;
  reject: (error: unknown) => void;
}
