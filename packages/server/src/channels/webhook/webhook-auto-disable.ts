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
/** What is kept of one webhook: the URL it was last built for, and its failure streak, if one runs. */
interface Watched {
  /** Its failures before a change of URL were another server's. */
  url: string | undefined;
  streak: FailureStreak | undefined;
}

export class FailureStreaks {
  private readonly webhooks = new Map<string, Watched>();

  constructor(private readonly rules: AutoDisableRules) {}

  record(destination: string, outcome: Outcome, now = Date.now()): FailureStreak | undefined {
    if (outcome.kind === 'delivered') {
      const webhook = this.webhooks.get(destination);
      if (webhook) webhook.streak = undefined;
      return undefined;
    }
    const error = outcome.kind === 'dead' ? outcome.reason : outcome.error;
    const streak = (this.watched(destination).streak ??= { failures: 0, since: now, lastError: error, tripped: false });
    streak.failures++;
    streak.lastError = error;
    if (streak.tripped || !this.crossed(streak, now)) return undefined;
    streak.tripped = true;
    return streak;
  }

  private watched(destination: string): Watched {
    let webhook = this.webhooks.get(destination);
    if (!webhook) this.webhooks.set(destination, (webhook = { url: undefined, streak: undefined }));
    return webhook;
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
    const webhook = this.watched(destination);
    if (webhook.streak?.tripped || webhook.url !== url) webhook.streak = undefined;
    webhook.url = url;
  }

  /** Forgets the streaks of a deleted instance's webhooks: `webhook:<id>` and its endpoints `webhook:<id>:…`. */
  forgetAll(instanceDestination: string): void {
    for (const destination of this.webhooks.keys()) {
      if (destination === instanceDestination || destination.startsWith(`${instanceDestination}:`)) this.webhooks.delete(destination);
    }
  }
}
