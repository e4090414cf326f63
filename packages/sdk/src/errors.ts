/** An error answer of Pombo's REST API: its HTTP status, stable code and messages. */
export class PomboApiError extends Error {
  constructor(
    readonly status: number,
    /** The stable error code (`POMBO_ERR_FORBIDDEN`, …); see docs/errors.md. */
    readonly code: string | undefined,
    readonly messages: readonly string[],
  ) {
    super(`${status}${code ? ` ${code}` : ''}: ${messages.join('; ') || 'no message'}`);
    this.name = 'PomboApiError';
  }
}

/**
 * An option of the client or of a subscription that has the wrong type or value: thrown by
 * `new PomboClient()` and `subscribe()` before anything is sent, naming the option and what it takes.
 */
export class PomboOptionError extends TypeError {
  constructor(
    /** The option, as `PomboClient.baseUrl` or `subscribe.maxRetries`. */
    readonly option: string,
    /** What it takes, as `an http(s) or ws(s) URL`. */
    readonly expected: string,
    got: string,
  ) {
    super(`${option}: expected ${expected}, got ${got}`);
    this.name = 'PomboOptionError';
  }
}

/** A REST call that got no complete answer within its timeout (the client's `timeoutMs`, 30 s by default). */
export class PomboTimeoutError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly timeoutMs: number,
  ) {
    super(`${method} ${path}: no complete answer from Pombo within ${timeoutMs} ms (timeoutMs)`);
    this.name = 'PomboTimeoutError';
  }
}

/**
 * Why a realtime subscription ended or could not start: the close code (4000 + HTTP status for a
 * refusal, see docs/realtime-protocol.md) or the HTTP status of a refused handshake, and the reason.
 */
export class PomboRealtimeError extends Error {
  constructor(
    message: string,
    /** The WebSocket close code, when the server closed the connection. */
    readonly closeCode?: number,
    /** The HTTP status, when the handshake was refused before the upgrade. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PomboRealtimeError';
  }

  /**
   * A refusal (bad request, key, instance…), or a close for a frame the protocol forbids (1002, 1007,
   * 1008, 1009: the server's table says "fix the client"): connecting again cannot help. Not a 408 (the
   * handshake was too slow) or a 429 (a proxy's rate limit): those pass, and the subscription tries again.
   */
  get fatal(): boolean {
    const code = this.closeCode ?? (this.status === undefined ? undefined : 4000 + this.status);
    if (code === undefined) return false;
    return CLIENT_FAULTS.has(code) || (code >= 4400 && code < 4500 && code !== 4408 && code !== 4429);
  }
}

/** Close codes of a client frame the protocol forbids: broken framing, text not UTF-8, too many fragments, too large. */
const CLIENT_FAULTS: ReadonlySet<number> = new Set([1002, 1007, 1008, 1009]);

/** The data of a `Gap` event (docs/realtime-protocol.md). */
export interface GapData {
  reason: 'retention' | (string & {});
  message: string;
  /** The client's `last_event_id` older than the log, or null when the subscriber's own position was. */
  last_event_id: string | null;
  oldest_retained_at: string | null;
}

/**
 * Events may have been lost: retention deleted some before they could be delivered. Reported to the
 * error handlers of a subscription with no `Gap` or `All` handler, so that a gap is never silent.
 */
export class PomboGapError extends Error {
  constructor(
    /** The `Gap` event's data. */
    readonly gap: GapData,
  ) {
    super(`events may have been lost (${gap.reason}): ${gap.message}`);
    this.name = 'PomboGapError';
  }
}

/** A webhook request whose signature, timestamp or headers do not check out. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}
