/** Baileys' DisconnectReason.loggedOut: the session was logged out (by the user, or from the phone). */
export const CLOSED_LOGGED_OUT = 401;
/** ... DisconnectReason.forbidden: WhatsApp refused the session. */
export const CLOSED_FORBIDDEN = 403;

const REASONS: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden' };

/**
 * The data of the STATUS_INSTANCE (`status.instance`) that Evolution API sends beside CONNECTION_UPDATE
 * when a session ends for good (Baileys closed it as logged out or forbidden, so it will not reconnect):
 * `disconnectionObject` is the JSON of Baileys' `lastDisconnect` (its Boom error and the date), as Evolution sends it.
 */
export function sessionClosed(instance: string, reasonCode: number, message: string, at = new Date()): Record<string, unknown> {
  const disconnectionAt = at.toISOString();
  const lastDisconnect = {
    error: {
      data: null,
      isBoom: true,
      isServer: reasonCode >= 500,
      output: { statusCode: reasonCode, payload: { statusCode: reasonCode, error: REASONS[reasonCode] ?? 'Error', message }, headers: {} },
    },
    date: disconnectionAt,
  };
  return { instance, status: 'closed', disconnectionAt, disconnectionReasonCode: reasonCode, disconnectionObject: JSON.stringify(lastDisconnect) };
}
