import type { DeliveryRecord } from '../types.ts';
import type { EventTuple } from '../sql-rows.ts';

/**
 * What the SQLite store's thread and its writer thread say to each other. The store sends one round
 * per turn of its event loop (every append and ledger write queued since the last round), the writer
 * commits it and answers once: a message per round, never one per event. Requests and outcomes travel
 * as columns (an array per field, numbers in a transferred buffer), as copying one object per event
 * between threads cost more than the inserts saved.
 */

/** The requests of a round's appends, column by column, callers one after the other; data is JSON text already. */
export interface EncodedAppends {
  /** How many requests each caller made, in order: a caller's requests are all or nothing. */
  sizes: number[];
  instanceIds: string[];
  events: string[];
  data: string[];
  producerIds: Array<string | null>;
  extras: Array<string | null>;
}

export interface LedgerWrite {
  destination: string;
  records: readonly DeliveryRecord[];
  cursor: number | undefined;
}

export interface WriteRound {
  type: 'round';
  appends: EncodedAppends;
  ledger: LedgerWrite[];
}

export interface CloseRequest {
  type: 'close';
}

export type ToWriter = WriteRound | CloseRequest;

/** Per request of the round, in order: `pos, seq, created_at (ms)` of the new event (0s for a refused call or a duplicate). */
export const NUMBERS_PER_EVENT = 3;

export interface RoundOutcome {
  numbers: Float64Array;
  /** The new event's id per request ('' for a refused call or a duplicate). */
  ids: string[];
  /** The name and sender (owner JID) of each instance appended to, as the commit saw them. */
  heads: Array<[instanceId: string, name: string, sender: string | null]>;
  /** Requests that found an earlier event with their producer id: that event, by request index. */
  duplicates: Array<[index: number, event: EventTuple]>;
  /** Callers refused, by caller index, with the reason. */
  refused: Array<[caller: number, reason: string]>;
  /** Set when the appends' commit failed as a whole: every caller of the round is refused with it. */
  appendFailure?: string;
  ledgerFailure?: string;
}
