import type { Logger } from 'pino';
import { eventName } from '../core/event-names.ts';
import type { StoredEvent } from '../store/types.ts';
import type { HealthState } from './circuit-breaker.ts';
import type { InstanceLabel } from './delivery-metrics.ts';
import type { DestinationRef } from './destination.ts';
import type { Outcome } from './outcome.ts';
import { givesUp } from './retry-policy.ts';

/** Within this long, further failures of one destination are counted into its next line, not logged each. */
const QUIET_MS = 10_000;

interface Streak {
  failures: number;
  /** When a retry / a dead letter was last logged, and how many were not logged since. */
  retryLoggedAt: number;
  retriesUnlogged: number;
  deadLoggedAt: number;
  deadUnlogged: number;
  paused: boolean;
}

/**
 * What operators see of deliveries at `info` and above: a failing destination, its dead letters, its
 * circuit pausing it, its recovery. A dead endpoint fails every event: lines of one destination come
 * at most every QUIET_MS, each saying how many it stands for. Ids, names and the channel's error
 * text (a status, a connection error) are logged, never an event's data or a receiver's answer.
 */
export class DeliveryLog {
  private readonly streaks = new Map<string, Streak>();

  constructor(
    private readonly log: Logger,
    private readonly instanceLabel: InstanceLabel,
  ) {}

  outcome(spec: DestinationRef, outcome: Outcome, event: StoredEvent, attempt: number, state: HealthState | undefined): void {
    if (outcome.kind === 'delivered') {
      if (this.streaks.size > 0) this.recovered(spec);
      return;
    }
    const streak = this.streakOf(spec.id);
    streak.failures++;
    const now = Date.now();
    const fields = {
      destination: spec.id,
      channel: spec.channel,
      instance: this.instanceLabel(event.instanceId),
      event: eventName(event.event).dotted,
      eventId: event.id,
      attempt,
    };
    const final = givesUp(outcome, attempt, spec.retry);
    if (final) {
      if (now - streak.deadLoggedAt >= QUIET_MS) {
        const reason = outcome.kind === 'dead' ? outcome.reason : `${outcome.error} (no attempts left)`;
        this.log.warn({ ...fields, reason, moreDeadLetters: streak.deadUnlogged }, 'delivery dead-lettered');
        streak.deadLoggedAt = now;
        streak.deadUnlogged = 0;
      } else streak.deadUnlogged++;
    } else if (outcome.kind === 'retry') {
      if (now - streak.retryLoggedAt >= QUIET_MS) {
        this.log.info({ ...fields, error: outcome.error, moreRetries: streak.retriesUnlogged }, 'delivery failed; will retry');
        streak.retryLoggedAt = now;
        streak.retriesUnlogged = 0;
      } else streak.retriesUnlogged++;
    }
    if (state === 'paused' && !streak.paused) {
      this.log.warn({ destination: spec.id, channel: spec.channel, instance: fields.instance, failures: streak.failures }, 'destination paused by its circuit breaker');
    }
    streak.paused = state === 'paused';
  }

  /** A destination's failures are behind it. */
  private recovered(spec: DestinationRef): void {
    const streak = this.streaks.get(spec.id);
    if (!streak) return;
    this.streaks.delete(spec.id);
    this.log.info(
      { destination: spec.id, channel: spec.channel, instance: this.instanceLabel(spec.instanceId), failures: streak.failures },
      'deliveries recovered',
    );
  }

  private streakOf(id: string): Streak {
    let streak = this.streaks.get(id);
    if (!streak) {
      streak = { failures: 0, retryLoggedAt: 0, retriesUnlogged: 0, deadLoggedAt: 0, deadUnlogged: 0, paused: false };
      this.streaks.set(id, streak);
    }
    return streak;
  }

  /** A removed destination leaves nothing behind. */
  forget(id: string): void {
    this.streaks.delete(id);
  }
}
