import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { PomboError } from '../../core/errors.ts';

/** Any failure as a PomboError; an unexpected one is logged under a reference the client can quote. */
export function asPomboError(error: unknown, log: Logger): PomboError {
  if (error instanceof PomboError) return error;
  const reference = randomUUID();
  log.error({ err: error, reference }, 'socket.io: unexpected error');
  return new PomboError('POMBO_ERR_INTERNAL', { reference });
}

/** What a client's `connect_error` carries: `err.message`, and `err.data` in Pombo's error shape (with `code`). */
export function connectError(error: PomboError): Error & { data: ReturnType<PomboError['toJSON']> } {
  return Object.assign(new Error(error.message), { data: error.toJSON() });
}

/** What a `send_message` ack answers on failure. */
export const ackError = (error: PomboError) => ({ ok: false as const, error: { code: error.code, message: error.message } });
