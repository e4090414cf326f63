import type { Logger } from 'pino';
import type { Store } from '../store/types.ts';
import { redactUrlText } from './redact.ts';

/**
 * Pings the event store for `GET /health`, and logs when it stops answering (warn, with the driver's
 * reason: a host and port are for the operator's log, not for an unauthenticated answer) and when it
 * answers again (info). Each change is logged once, however often the health check runs.
 */
export function storeHealthProbe(store: Pick<Store, 'ping' | 'provider'>, log: Logger): () => Promise<boolean> {
  let answering = true;
  return async () => {
    try {
      await store.ping();
    } catch (error) {
      if (answering) log.warn({ store: store.provider, ...reasonOf(error) }, 'the event store stopped answering health checks');
      answering = false;
      return false;
    }
    if (!answering) log.info({ store: store.provider }, 'the event store answers health checks again');
    answering = true;
    return true;
  };
}

/** The driver's code and message, with any credentials in a connection string masked. */
function reasonOf(error: unknown): { code?: unknown; reason: string } {
  const { code, message } = error instanceof Error ? (error as Error & { code?: unknown }) : { code: undefined, message: String(error) };
  return { code, reason: redactUrlText(message) };
}
