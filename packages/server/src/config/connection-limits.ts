import type { EnvReader } from './env-reader.ts';

/**
 * What one client connection may hold of the server (docs/security.md#connections): time before it
 * says who it is, and memory while it does not read. Read once at boot.
 */
export interface ConnectionLimits {
  /** Time to receive a request's headers; a connection that sends nothing is closed after it (HTTP 408). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection waits for its next request. */
  keepAliveTimeoutMs: number;
  /** Open TCP connections at once (HTTP, Socket.IO and realtime WebSockets); the next ones are closed unanswered. */
  maxConnections: number;
  /** Time a Socket.IO connection has to join a namespace (its key accepted) before it is closed. */
  socketioConnectTimeoutMs: number;
  /** Bytes queued for one Socket.IO connection behind what the network took; past it the connection is dropped. */
  socketioMaxBufferedBytes: number;
  /** Bytes written to one `/events/ws` connection that the network has not taken; past it for a second, the connection is closed (1013). */
  realtimeMaxBufferedBytes: number;
}

const MIB = 1024 * 1024;

/**
 * How long a connection's unsent bytes may stay past its limit before it is dropped: a burst of
 * events is written to every client at once, and one that reads takes it well within this.
 */
export const SLOW_READER_GRACE_MS = 1000;

export function readConnectionLimits(env: EnvReader): ConnectionLimits {
  const limits: ConnectionLimits = {
    headersTimeoutMs: env.int('SERVER_HEADERS_TIMEOUT_MS', 10_000, { min: 100 }),
    requestTimeoutMs: env.int('SERVER_REQUEST_TIMEOUT_MS', 120_000, { min: 100 }),
    keepAliveTimeoutMs: env.int('SERVER_KEEP_ALIVE_TIMEOUT_MS', 72_000, { min: 100 }),
    maxConnections: env.int('SERVER_MAX_CONNECTIONS', 10_000, { min: 1 }),
    socketioConnectTimeoutMs: env.int('WEBSOCKET_CONNECT_TIMEOUT_MS', 10_000, { min: 100 }),
    socketioMaxBufferedBytes: env.int('WEBSOCKET_MAX_BUFFERED_BYTES', 4 * MIB, { min: 64 * 1024 }),
    realtimeMaxBufferedBytes: env.int('REALTIME_MAX_BUFFERED_BYTES', 4 * MIB, { min: 64 * 1024 }),
  };
  // Node refuses a headers timeout longer than the request's: the headers are part of the request.
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    env.problems.push(`SERVER_HEADERS_TIMEOUT_MS (${limits.headersTimeoutMs}) must not exceed SERVER_REQUEST_TIMEOUT_MS (${limits.requestTimeoutMs})`);
  }
  return limits;
}
