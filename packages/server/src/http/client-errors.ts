import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { PomboError } from '../core/errors.ts';

/** The error Node's HTTP parser reported, as one of ours (the parser's own text says what it could not read). */
function asPomboError(error: Error & { code?: string }): PomboError {
  if (error.code === 'HPE_HEADER_OVERFLOW') return new PomboError('POMBO_ERR_HEADERS_TOO_LARGE', { limit: maxHeaderSize });
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new PomboError('POMBO_ERR_REQUEST_TIMEOUT');
  const reason = (error as { reason?: unknown }).reason;
  const detail = typeof reason === 'string' && reason ? reason : 'the request line or a header could not be parsed';
  return new PomboError('POMBO_ERR_BAD_REQUEST', { detail: detail.slice(0, 64) });
}

/**
 * Requests Node's HTTP parser refuses before any route sees them (a malformed request line,
 * headers over the size limit, a request that stalls) get an answer in the documented error shape
 * instead of Node's bare one; then the connection closes, since its bytes can no longer be framed.
 */
export function answerClientErrors(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const pombo = asPomboError(error);
  const body = JSON.stringify(pombo.toJSON());
  socket.end(
    `HTTP/1.1 ${pombo.status} ${STATUS_CODES[pombo.status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
