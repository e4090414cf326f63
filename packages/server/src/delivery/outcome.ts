import type { DeliveryAttempt } from '../store/types.ts';

/**
 * What a channel answers for one delivery. Channels never sleep, loop or persist: they say what
 * happened and the dispatcher decides what comes next.
 */
export type Outcome =
  | { kind: 'delivered'; attempt?: Partial<DeliveryAttempt> }
  | { kind: 'retry'; error: string; afterMs?: number; attempt?: Partial<DeliveryAttempt>; answer?: string }
  | { kind: 'dead'; reason: string; attempt?: Partial<DeliveryAttempt>; answer?: string };

/*
 * `error` and `reason` are logged (delivery-log.ts): a status, a connection error, never what a
 * receiver answered. `answer`, an excerpt of that answer with credentials masked, is shown after
 * them in the destination's status (`lastError` in `find`), for its owner, and nowhere else.
 */

export const delivered = (attempt?: Partial<DeliveryAttempt>): Outcome => ({ kind: 'delivered', attempt });

/** The outcome of a delivery that carries nothing of its own: one frozen object shared by all. */
export const DELIVERED: Outcome = Object.freeze(delivered());

export const retry = (error: string, afterMs?: number, attempt?: Partial<DeliveryAttempt>): Outcome => ({
  kind: 'retry',
  error,
  afterMs,
  attempt,
});

export const dead = (reason: string, attempt?: Partial<DeliveryAttempt>): Outcome => ({ kind: 'dead', reason, attempt });
