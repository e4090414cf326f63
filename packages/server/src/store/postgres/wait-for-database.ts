import type { Logger } from 'pino';
import { reasonOf } from '../../core/error-reason.ts';
import { isStoreUnreachable } from '../store-unreachable.ts';

/** The first wait after a refused connection; each next one doubles, up to MAX_WAIT_MS. */
const FIRST_WAIT_MS = 250;
const MAX_WAIT_MS = 5_000;
/** The attempt made at the deadline still gets this long: a server that just came up answers within it. */
const LAST_ATTEMPT_MS = 1_000;

/**
 * Whether a first connection may succeed if tried again: the server is not up yet (refused, reset,
 * starting up, timed out) or its name does not resolve yet (a compose service whose container is not
 * created). A refused login or a missing database will not get better by waiting.
 */
function notUpYet(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return isStoreUnreachable(error) || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
}

export interface WaitOptions {
  /** How long to keep trying (DATABASE_CONNECT_TIMEOUT_MS); 0: one attempt. */
  timeoutMs: number;
  /** The database as the log may name it: the URI with its password masked. */
  target: string;
  log: Logger;
}

/**
 * Opens the database, trying again with backoff while it is not up yet, for at most `timeoutMs`:
 * in docker compose or systemd, PostgreSQL often accepts connections a few seconds after Pombo
 * starts. `open` is given the time left, which an attempt must not outlast (a server that accepts
 * connections and never answers), so the start gives up on time; the last attempt, at the deadline,
 * gets LAST_ATTEMPT_MS. Each wait is logged once, at warn. Throws the last error when the time is up,
 * or at once for an error that waiting will not cure.
 */
export async function waitForDatabase<T>(open: (timeLeftMs: number) => Promise<T>, { timeoutMs, target, log }: WaitOptions): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = FIRST_WAIT_MS; ; wait = Math.min(wait * 2, MAX_WAIT_MS)) {
    try {
      // 0: one attempt, as long as `open` lets it last.
      return await open(timeoutMs > 0 ? Math.max(deadline - Date.now(), LAST_ATTEMPT_MS) : Infinity);
    } catch (error) {
      const left = deadline - Date.now();
      if (!notUpYet(error) || left <= 0) throw error;
      const retryInMs = Math.min(wait, left);
      log.warn({ target, error: reasonOf(error), retryInMs, giveUpInMs: left }, 'PostgreSQL is not reachable yet; retrying');
      await new Promise((resolve) => setTimeout(resolve, retryInMs));
    }
  }
}
