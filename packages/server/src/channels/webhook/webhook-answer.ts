import type { Dispatcher } from 'undici';
import { redactText } from '../../ops/redact.ts';

/** Bytes of a receiver's answer kept in the delivery log: an excerpt to diagnose with, not a way to read a server's pages. */
export const RESPONSE_LIMIT = 256;
/** Bytes read from an answer before the connection is dropped instead of drained for reuse. */
export const DRAIN_LIMIT = 64 * 1024;

/** What a receiver answered, as the sender judges it. */
export interface Answer {
  readonly statusCode: number;
  /** The first `Retry-After`, read only where it counts (429, 503). */
  readonly retryAfter: string | undefined;
  /** The first RESPONSE_LIMIT bytes of the body as text, credential-like values redacted; '' for an empty body. */
  readonly excerpt: string;
}

/** Statuses whose `Retry-After` the sender honours: no other answer has its headers looked at. */
const RETRY_AFTER_STATUSES = new Set([429, 503]);

/** The first value of `name` (lower-case) in undici's raw headers (name, value, name, value…), as text. */
function rawHeader(raw: ReadonlyArray<Buffer | string>, name: string): string | undefined {
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const key = raw[index] as Buffer | string;
    if (key.length === name.length && key.toString().toLowerCase() === name) return (raw[index + 1] as Buffer | string).toString();
  }
  return undefined;
}

/**
 * Reads one webhook answer as undici hands it over (a dispatch handler): the status, `Retry-After`
 * where it counts, and the start of the body for the log; the rest of the body is counted and
 * dropped, so the connection is reused (a body larger than DRAIN_LIMIT closes it instead).
 *
 * Why not `request()`: for every answer it builds an AsyncResource, an object of every header, a
 * Readable stream with its buffering and events, and a promise per step, which the sender then read
 * through listeners: per delivery, more than Pombo's own work around it. The answer settles once:
 * a body that fails or is cut after the status came is judged by its status, as before (what was
 * sent was received); an error before the status rejects.
 */
export class AnswerReader implements Dispatcher.DispatchHandlers {
  readonly answer: Promise<Answer>;
  private resolve!: (answer: Answer) => void;
  private reject!: (error: Error) => void;
  private abort: ((error?: Error) => void) | undefined;
  private statusCode = 0;
  private retryAfter: string | undefined;
  /** The body's first chunks (up to RESPONSE_LIMIT bytes) and how many bytes came in all. */
  private chunks: Buffer[] | undefined;
  private size = 0;
  private settled = false;
  /** When the request started (performance.now()): interim answers never stretch it past `timeoutMs`. */
  private readonly startedAt = performance.now();

  constructor(private readonly timeoutMs = Number.POSITIVE_INFINITY) {
    this.answer = new Promise<Answer>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  onConnect(abort: (error?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, headers: Buffer[] | string[] | null): boolean {
    // 1xx (100 Continue, 102 Processing, 103 Early Hints) are not the answer: the final status follows.
    // Each one restarts undici's wait for headers: past the timeout, the request ends as timed out
    // (a receiver sending 102 every second would otherwise hold its lane for as long as it likes).
    if (statusCode < 200) {
      if (performance.now() - this.startedAt <= this.timeoutMs) return true;
      this.abort?.(Object.assign(new Error(`no final answer within ${this.timeoutMs} ms`), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
      return false;
    }
    this.statusCode = statusCode;
    if (headers && RETRY_AFTER_STATUSES.has(statusCode)) this.retryAfter = rawHeader(headers, 'retry-after');
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.size < RESPONSE_LIMIT) (this.chunks ??= []).push(chunk);
    this.size += chunk.length;
    if (this.size > DRAIN_LIMIT) {
      this.settle();
      this.abort?.(new Error(`answer longer than ${DRAIN_LIMIT} bytes: connection closed instead of drained`));
      return false;
    }
    return true;
  }

  onComplete(): void {
    this.settle();
  }

  onError(error: Error): void {
    if (this.statusCode) this.settle();
    else if (!this.settled) {
      this.settled = true;
      this.reject(error);
    }
  }

  /** Resolves with the answer once (completion, an oversized body, or an error after the status). */
  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve({ statusCode: this.statusCode, retryAfter: this.retryAfter, excerpt: this.excerpt() });
  }

  /** Most receivers answer with nothing or a word: no copy, and no redaction scan of an empty answer. */
  private excerpt(): string {
    const chunks = this.chunks;
    if (!chunks) return '';
    const head = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    return redactText(head.subarray(0, RESPONSE_LIMIT).toString('utf8'));
  }
}
