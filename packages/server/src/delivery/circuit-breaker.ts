export type HealthState = 'healthy' | 'failing' | 'paused';

export interface CircuitOptions {
  /** Consecutive failures that pause the destination. */
  failureThreshold: number;
  /** First pause; each failed probe doubles it up to `maxCooldownMs`. */
  cooldownMs: number;
  maxCooldownMs: number;
}

/**
 * Pauses a destination that keeps failing, then lets one probe through after a cooldown:
 * success closes the circuit, failure pauses it again for longer.
 */
export class CircuitBreaker {
  private failures = 0;
  private pausedUntil = 0;
  private cooldown: number;
  private probing = false;

  constructor(private readonly options: CircuitOptions) {
    this.cooldown = options.cooldownMs;
  }

  get state(): HealthState {
    if (this.pausedUntil > 0) return 'paused';
    return this.failures > 0 ? 'failing' : 'healthy';
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** How many sends may start now: 0 while paused, 1 for a probe, otherwise `capacity`. */
  allowance(capacity: number, now = Date.now()): number {
    if (this.pausedUntil === 0) return capacity;
    if (now < this.pausedUntil || this.probing) return 0;
    this.probing = true;
    return 1;
  }

  /** The probe `allowance` granted went unused (nothing was ready to send): the next call may grant it again. */
  probeUnused(): void {
    this.probing = false;
  }

  /** Milliseconds until a probe may be sent: 0 when not paused, Infinity while a probe is out. */
  msUntilProbe(now = Date.now()): number {
    if (this.pausedUntil === 0) return 0;
    return this.probing ? Number.POSITIVE_INFINITY : Math.max(0, this.pausedUntil - now);
  }

  succeeded(): void {
    this.failures = 0;
    this.pausedUntil = 0;
    this.probing = false;
    this.cooldown = this.options.cooldownMs;
  }

  failed(now = Date.now()): void {
    this.failures++;
    if (this.probing) {
      this.probing = false;
      this.cooldown = Math.min(this.cooldown * 2, this.options.maxCooldownMs);
      this.pausedUntil = now + this.cooldown;
    } else if (this.pausedUntil === 0 && this.failures >= this.options.failureThreshold) {
      this.pausedUntil = now + this.cooldown;
    }
  }
}
