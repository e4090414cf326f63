import type { Outcome } from './outcome.ts';

/** When to try a failed delivery again, and when to give up. */
export interface RetryPolicy {
  /** Total attempts, the first included; Infinity never gives up. */
  readonly maxAttempts: number;
  /** Delay before attempt `failures + 1`, given the number of failures so far. */
  delayMs(failures: number): number;
}

export interface BackoffOptions {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  exponential: boolean;
  /** 0.2 spreads each delay uniformly over ±20%. */
  jitterFactor: number;
}

/** Exponential (or constant) backoff with a cap and proportional jitter. */
export function backoff(options: BackoffOptions, random: () => number = Math.random): RetryPolicy {
  return {
    maxAttempts: options.maxAttempts,
    delayMs(failures: number): number {
      const base = options.exponential
        ? options.initialDelayMs * 2 ** Math.max(0, failures - 1)
        : options.initialDelayMs;
      const capped = Math.min(base, options.maxDelayMs);
      const jitter = capped * options.jitterFactor * (random() * 2 - 1);
      return Math.max(0, Math.round(capped + jitter));
    },
  };
}

/** For destinations that must never drop an event (brokers): retry forever, capped, with full jitter. */
export const forever = (initialDelayMs = 200, maxDelayMs = 30_000): RetryPolicy => ({
  maxAttempts: Number.POSITIVE_INFINITY,
  delayMs: (failures) => Math.round(Math.random() * Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(failures, 20))),
});

/**
 * Tries again at once, up to `maxAttempts` sends: a realtime subscriber's redelivery, whose wait for
 * an acknowledgement (REALTIME_ACK_WAIT_MS) already is the delay.
 */
export const atOnce = (maxAttempts: number): RetryPolicy => ({ maxAttempts, delayMs: () => 0 });

/**
 * Whether a delivery is given up (dead-lettered) after the outcome of its attempt number `attempt`
 * (1 for the first): a dead outcome at once, a retry once the policy's attempts are spent. The one
 * rule for every destination, dispatcher workers and realtime subscribers alike.
 */
export function givesUp(outcome: Outcome, attempt: number, policy: RetryPolicy): boolean {
  return outcome.kind === 'dead' || (outcome.kind === 'retry' && attempt >= policy.maxAttempts);
}

/**
 * How long before the next attempt after a retry outcome: the policy's delay, or longer if the channel
 * asked for it (a `Retry-After`). Never shorter: a `Retry-After: 0` or a date in the past would
 * otherwise spend every attempt within milliseconds and dead-letter the event.
 */
export function retryDelayMs(outcome: Extract<Outcome, { kind: 'retry' }>, attempt: number, policy: RetryPolicy): number {
  return Math.max(outcome.afterMs ?? 0, policy.delayMs(attempt));
}
