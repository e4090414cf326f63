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
