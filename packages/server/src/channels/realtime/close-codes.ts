import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { PomboError } from '../../core/errors.ts';

/**
 * How the server ends a realtime connection (docs/realtime-protocol.md). A refusal is 4000 + the
 * HTTP status the same request gets from the REST API; clients must not reconnect on 44xx.
 */
export const CLOSE = {
  /** The server is shutting down or restarting: reconnect with backoff. */
  goingAway: 1001,
  /** Something failed on the server: reconnect with backoff. */
  internalError: 1011,
  /** The client read too slowly (REALTIME_MAX_BUFFERED_BYTES unsent): reconnect, and read faster. */
  tryAgainLater: 1013,
  /**
   * Cluster mode: a newer connection of the subscriber attached on another node, which serves it from
   * now on: reconnect (4000 + 307 Temporary Redirect; the subscriber resumes from its ack floor).
   */
  subscriberMoved: 4307,
  /** The instance was deleted. */
  instanceDeleted: 4410,
} as const;

/** The handshake's `refusal=close`: a client that cannot read an HTTP status asks for a close code. */
const CLOSE_ASKED = /[?&]refusal=close(?:&|$)/;

export const closeCodeOf = (error: PomboError): number => 4000 + error.status;

/** A close reason is at most 123 bytes of UTF-8. */
export function reasonOf(message: string): string {
  const bytes = Buffer.from(message);
  if (bytes.length <= 123) return message;
  return bytes.subarray(0, 120).toString('utf8').replace(/\uFFFD+$/, '') + '...';
}

/**
 * Refuses an upgrade. Browsers cannot read the HTTP status of a failed handshake, nor can the WebSocket
 * built into Node 22 (undici's): a request with an `Origin` header, or that asks for it with
 * `refusal=close` (the SDK does for those), is upgraded and closed at once with the close code and
 * reason; others get the HTTP status and the usual JSON error body without ever being upgraded.
 */
export function refuse(wss: WebSocketServer, request: IncomingMessage, socket: Duplex, head: Buffer, error: PomboError): void {
  if (request.headers.origin !== undefined || CLOSE_ASKED.test(request.url ?? '')) {
    wss.handleUpgrade(request, socket, head, (ws: WebSocket) => ws.close(closeCodeOf(error), reasonOf(error.message)));
    return;
  }
  const body = JSON.stringify(error.toJSON());
  const challenge = error.status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '';
  socket.end(
    `HTTP/1.1 ${error.status} ${error.toJSON().error}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${challenge}Connection: close\r\n\r\n${body}`,
  );
}
