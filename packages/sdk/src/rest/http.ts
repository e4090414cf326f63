import { restUrl } from '../base-url.ts';
import { PomboApiError, PomboTimeoutError } from '../errors.ts';
import { aTimeout, checkOptions, type Check } from '../option-checks.ts';

/** How long a REST call may take by default, the answer's body included. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface HttpOptions {
  baseUrl: string;
  apiKey: string | undefined;
  fetch: typeof fetch;
  /** `0`: no timeout. */
  timeoutMs: number;
}

/** The last, optional argument of every REST helper. */
export interface CallOptions {
  /** Aborts the call: it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** This call's timeout, instead of the client's `timeoutMs` (`0` or `Infinity`: none). */
  timeoutMs?: number;
}

const aSignal: Check = (value) => (value !== null && typeof value === 'object' && typeof (value as AbortSignal).addEventListener === 'function' ? undefined : 'an AbortSignal');

const CALL_CHECKS: Record<keyof CallOptions, Check> = { signal: aSignal, timeoutMs: aTimeout };

/** The longest delay a timer holds (2^31 − 1 ms, 24.8 days): a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** JSON over HTTP with the `apikey` header; an error answer becomes a `PomboApiError`, a slow one a `PomboTimeoutError`. */
export class Http {
  constructor(private readonly options: HttpOptions) {}

  async request<T>(method: string, path: string, body?: unknown, call: CallOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.apiKey) headers.apikey = this.options.apiKey;
    if (body !== undefined) headers['content-type'] = 'application/json';
    checkOptions('call', call, CALL_CHECKS);
    const timeoutMs = call.timeoutMs ?? this.options.timeoutMs;
    const abort = callAbort(call.signal, timeoutMs);
    try {
      const response = await this.options.fetch(restUrl(this.options.baseUrl, path), {
        method,
        headers,
        ...(abort ? { signal: abort.signal } : {}),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      const parsed = text ? parseJson(text) : undefined;
      if (!response.ok) throw apiError(response.status, parsed, text);
      return parsed as T;
    } catch (error) {
      // The caller's own abort keeps its reason; only the SDK's deadline becomes a timeout error.
      if (abort?.timedOut) throw new PomboTimeoutError(method, path, timeoutMs);
      throw error;
    } finally {
      abort?.release();
    }
  }
}

interface CallAbort {
  readonly signal: AbortSignal;
  readonly timedOut: boolean;
  /** Clears the timer and the listener on the caller's signal: the call is over. */
  release(): void;
}

/**
 * One signal for a call, aborted by the caller's signal or by the timeout, whichever comes first.
 * Not `AbortSignal.any` with `AbortSignal.timeout`: the timer would stay armed after the answer (30 s
 * of a signal and a timer per call), and Node keeps every signal `any` derived from a long-lived one
 * (a process's shutdown signal, passed to every call) until that one aborts.
 */
function callAbort(callerSignal: AbortSignal | undefined, timeoutMs: number): CallAbort | undefined {
  const limited = timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS;
  if (!callerSignal && !limited) return undefined;
  const controller = new AbortController();
  let timedOut = false;
  const onCallerAbort = (): void => controller.abort(callerSignal?.reason);
  const expire = (): void => {
    if (controller.signal.aborted) return; // the caller's abort came first: its reason stands
    timedOut = true;
    controller.abort();
  };
  const timer = limited ? setTimeout(expire, timeoutMs) : undefined;
  if (callerSignal?.aborted) onCallerAbort();
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    release() {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function apiError(status: number, body: unknown, text: string): PomboApiError {
  const error = body as { code?: string; response?: { message?: unknown } } | undefined;
  const messages = error?.response?.message;
  const list = Array.isArray(messages) ? messages.map(String) : [text];
  return new PomboApiError(status, typeof error?.code === 'string' ? error.code : undefined, list);
}

/** An instance name or id as a path segment. */
export const segment = (value: string): string => encodeURIComponent(value);
