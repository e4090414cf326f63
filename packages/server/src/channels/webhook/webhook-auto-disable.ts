import type { Outcome } from '../../delivery/outcome.ts';

/** When a failing webhook is disabled: after this many consecutive failed attempts, or this long failing (0 turns a rule off). */
export interface AutoDisableRules {
  readonly afterFailures: number;
  readonly afterMs: number;
}

/** A run of failed attempts of one webhook, with no delivery in between. */
export interface FailureStreak {
  failures: number;
  /** When its first failure was answered (ms since epoch). */
  readonly since: number;
  lastError: string;
  /** A rule was crossed: the webhook is being disabled, later failures change nothing. */
  tripped: boolean;
}

/** The stored fields of a webhook disabled after failing (cleared when it is enabled again). */
export interface DisabledMark {
  disabledAt: string | null;
  disabledReason: string | null;
  /** When its failures began: dead letters recorded since are sent again when it is enabled. */
  failingSince: string | null;
}

export const NOT_DISABLED: DisabledMark = Object.freeze({ disabledAt: null, disabledReason: null, failingSince: null });

/** Which rule a streak crossed, in words for the operator (the WEBHOOK_DISABLED event, find). */
export function disableReason(streak: FailureStreak, rules: AutoDisableRules, now = Date.now()): string {
  if (rules.afterFailures > 0 && streak.failures >= rules.afterFailures) {
    return `${streak.failures} consecutive failed attempts (WEBHOOK_DISABLE_AFTER_FAILURES=${rules.afterFailures}); last: ${streak.lastError}`;
  }
  const hours = ((now - streak.since) / 3_600_000).toFixed(2);
  return `failing for ${hours} hours (WEBHOOK_DISABLE_AFTER_HOURS=${rules.afterMs / 3_600_000}); last: ${streak.lastError}`;
}

/**
 * The failure streak of each instance webhook. Every answered attempt is recorded: a delivery ends
 * the streak, a failure (retried or dead-lettered) extends it; `record` returns the streak once,
 * when it first crosses a rule, so the webhook is disabled once.
 */
export class FailureStreaks {
  private readonly streaks = new Map<string, FailureStreak>();
  /** The URL each webhook was last built for: its failures before a change of URL were another server's. */
  private readonly urls = new Map<string, string>();

  constructor(private readonly rules: AutoDisableRules) {}

  record(destination: string, outcome: Outcome, now = Date.now()): FailureStreak | undefined {
    if (outcome.kind === 'delivered') {
      this.streaks.delete(destination);
      return undefined;
    }
    const error = outcome.kind === 'dead' ? outcome.reason : outcome.error;
    const streak = this.streaks.get(destination) ?? { failures: 0, since: now, lastError: error, tripped: false };
    streak.failures++;
    streak.lastError = error;
    this.streaks.set(destination, streak);
    if (streak.tripped || !this.crossed(streak, now)) return undefined;
    streak.tripped = true;
    return streak;
  }

  private crossed(streak: FailureStreak, now: number): boolean {
    const { afterFailures, afterMs } = this.rules;
    return (afterFailures > 0 && streak.failures >= afterFailures) || (afterMs > 0 && now - streak.since >= afterMs);
  }

  /**
   * A webhook enabled again, or pointed at another URL, starts a new streak; one that did not trip
   * goes on counting while the URL stays (its destination is built again for any change of its instance).
   */
  resume(destination: string, url: string): void {
    const streak = this.streaks.get(destination);
    if (streak?.tripped || (streak && this.urls.get(destination) !== url)) this.streaks.delete(destination);
    this.urls.set(destination, url);
  }

  /** Forgets the streaks of a deleted instance's webhooks: `webhook:<id>` and its endpoints `webhook:<id>:…`. */
  forgetAll(instanceDestination: string): void {
    for (const known of [this.streaks, this.urls]) {
      for (const destination of known.keys()) {
        if (destination === instanceDestination || destination.startsWith(`${instanceDestination}:`)) known.delete(destination);
      }
    }
  }
}
