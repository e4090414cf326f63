import type { DeliveryRecord } from '../types.ts';
import type { EventTuple } from '../sql-rows.ts';

/**
 * What the SQLite store's thread and its writer thread say to each other. The store sends one round
 * per turn of its event loop (every append and ledger write queued since the last round), the writer
 * commits it and answers once: a message per round, never one per event.
 */

/** One request of an append, its data already JSON text (checked on the store's thread). */
export interface EncodedRequest {
  instanceId: string;
  event: string;
  data: string;
  producerId: string | null;
  extra: string | null;
}

export interface LedgerWrite {
  destination: string;
  records: readonly DeliveryRecord[];
  cursor: number | undefined;
}

export interface WriteRound {
  type: 'round';
  /** Each caller's requests, committed all or nothing per caller, together in one transaction. */
  appends: EncodedRequest[][];
  ledger: LedgerWrite[];
}

export interface CloseRequest {
  type: 'close';
}

export type ToWriter = WriteRound | CloseRequest;

/** A new event's columns the store's thread does not have: pos, id, seq, created_at (ms), instance name, sender. */
export type NewEventColumns = [pos: number, id: string, seq: number, createdAt: number, instance: string, sender: string | null];

/** One request's outcome: a new event, or the event an earlier append with the same producer id made. */
export type RequestOutcome = { added: NewEventColumns } | { duplicate: EventTuple };

export interface RoundOutcome {
  /** Per caller, in the round's order: its requests' outcomes, or why the call was refused (a message). */
  appends: Array<RequestOutcome[] | string>;
  /** Set when the appends' commit failed as a whole: every caller of the round is refused with it. */
  appendFailure?: string;
  ledgerFailure?: string;
}
