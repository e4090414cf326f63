import type { Outcome } from './outcome.ts';

/**
 * What one destination did since the server started, for its status (`GET /webhook/find`, the
 * manager, `GET /realtime/find`): counts of outcomes and the last error. Kept by dispatcher workers
 * and realtime subscribers alike.
 */
export class DeliveryStats {
  delivered = 0;
  /** Attempts answered with a retry that will be tried again. */
  retried = 0;
  /** Deliveries given up (dead-lettered). */
  failed = 0;
  /** Events the destination's payload filter skipped. */
  filtered = 0;
  lastError: string | null = null;
  lastDeliveredMs: number | null = null;

  /** Counts an attempt's outcome; `gaveUp` says whether the delivery was dead-lettered by it (`givesUp`). */
  count(outcome: Outcome, gaveUp: boolean): void {
    if (outcome.kind === 'delivered') {
      this.delivered++;
      this.lastError = null;
      this.lastDeliveredMs = Date.now();
      return;
    }
    const error = outcome.kind === 'dead' ? outcome.reason : outcome.error;
    this.lastError = outcome.answer ? `${error}: ${outcome.answer}` : error;
    if (gaveUp) this.failed++;
    else this.retried++;
  }

  get lastDeliveredAt(): string | null {
    return this.lastDeliveredMs === null ? null : new Date(this.lastDeliveredMs).toISOString();
  }
}
