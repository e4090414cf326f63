import type { Dispatcher } from 'undici';
import { dead, delivered, retry, type Outcome } from '../../delivery/outcome.ts';
import type { DeliveryAttempt } from '../../store/types.ts';
import { isoTime } from '../../core/iso-time.ts';
import type { Endpoint } from './webhook-target.ts';
import { AddressRefused, type OutboundAddressPolicy } from '../../net/outbound-address-policy.ts';
import { policyAgent } from '../../net/undici-policy-agent.ts';
import { lastMomentCheck, type CheckedRequest } from './last-moment-check.ts';
import { AnswerReader } from './webhook-answer.ts';

/** A `Retry-After` longer than this is shortened to it, so one answer cannot park a delivery for days. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

export interface SenderOptions {
  timeoutMs: number;
  nonRetryable: ReadonlySet<number>;
  /** Where connections may go (net/outbound-address-policy.ts): resolves, checks and connects to the checked address. */
  policy: OutboundAddressPolicy;
}

/** An HTTP date (RFC 9110: `Sun, 06 Nov 1994 08:49:37 GMT`, or its obsolete forms, which name the day and the GMT zone or month). */
const HTTP_DATE = /^[A-Za-z]{3,9}, .*\d{2}:\d{2}:\d{2}/;

/**
 * `Retry-After` in whole seconds or as an HTTP date, in milliseconds from now; undefined when absent
 * or malformed (`1.5` is neither: `Date.parse` would read it as a date in 2001).
 */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : HTTP_DATE.test(text) ? Date.parse(text) - now : Number.NaN;
  return Number.isNaN(ms) ? undefined : Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}

/** Whole milliseconds since `startedAt` (a `performance.now()`). */
const msSince = (startedAt: number): number => Math.round(performance.now() - startedAt);

const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function describeError(error: unknown, timeoutMs: number): string {
  const { code, message } = error as { code?: string; message?: string };
  if (code && TIMEOUTS.has(code)) return `timeout: no answer within ${timeoutMs} ms`;
  if (code === 'ECONNREFUSED') return 'connection refused';
  return code ? `${code}: ${message ?? ''}`.trim() : (message ?? String(error));
}

/**
 * Posts webhook requests over keep-alive connection pools (one per origin) and turns each answer into
 * an outcome: 2xx delivered, a non-retryable status dead, 429/503 retried after `Retry-After`, anything
 * else (other statuses, redirects, timeouts, connection errors) retried with the backoff.
 */
export class WebhookSender {
  private readonly agent: Dispatcher;

  constructor(private readonly options: SenderOptions) {
    this.agent = policyAgent(options.policy, options.timeoutMs, { keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000 }).compose(lastMomentCheck);
  }

  /** `mayStart` (SendContext) is asked again right before the request is written on its connection. */
  async post(endpoint: Endpoint, headers: Record<string, string>, body: string, mayStart?: () => boolean): Promise<Outcome> {
    const startedAt = performance.now();
    // When this request started, in its attempt record: auto-disable's streak starts at the first failing one.
    const at = isoTime(Date.now());
    try {
      const options: Dispatcher.DispatchOptions & CheckedRequest = { origin: endpoint.origin, path: endpoint.path, method: 'POST', headers, body, mayStart };
      const reader = new AnswerReader(this.options.timeoutMs);
      this.agent.dispatch(options, reader);
      const { statusCode, retryAfter, excerpt } = await reader.answer;
      return this.judge(statusCode, retryAfter, { at, statusCode, durationMs: msSince(startedAt), response: excerpt });
    } catch (error) {
      // An address the policy refuses stays refused: no retry would reach it.
      if (error instanceof AddressRefused) return dead(error.message, { at, durationMs: msSince(startedAt), error: error.message });
      const message = describeError(error, this.options.timeoutMs);
      return retry(message, undefined, { at, durationMs: msSince(startedAt), error: message });
    }
  }

  private judge(status: number, retryAfter: string | string[] | undefined, attempt: Partial<DeliveryAttempt>): Outcome {
    if (status >= 200 && status < 300) return delivered(attempt);
    const error = `HTTP ${status}`;
    if (this.options.nonRetryable.has(status)) {
      return dead(`${error} is not retryable (WEBHOOK_RETRY_NON_RETRYABLE_STATUS_CODES)`, { ...attempt, error });
    }
    const after = status === 429 || status === 503 ? retryAfterMs(retryAfter) : undefined;
    return retry(error, after, { ...attempt, error });
  }

  /**
   * Called once the destinations have stopped (after their grace): a request still unanswered then has
   * an outcome nobody reads, and its event stays past the saved cursor, to be sent again after a restart.
   * So its connection is cut rather than waited for (`close()` would wait up to the request timeout).
   */
  close(): Promise<void> {
    return this.agent.destroy();
  }
}
