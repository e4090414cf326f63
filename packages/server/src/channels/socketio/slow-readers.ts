import type { Socket as EngineSocket } from 'engine.io';
import { SLOW_READER_GRACE_MS } from '../../config/connection-limits.ts';

/** The memory a packet's data holds: a string's length, a buffer's bytes (pings carry none). */
function sizeOf(data: unknown): number {
  if (typeof data === 'string') return data.length;
  return (data as ArrayBufferView | undefined)?.byteLength ?? 0;
}

/** What engine.io holds for one connection that its transport has not taken yet. */
interface Outbound {
  bytes: number;
  /** Set while `bytes` is past the limit: the check at the end of the grace. */
  overLimit: NodeJS.Timeout | undefined;
}

const outbound = new WeakMap<EngineSocket, Outbound>();

/** Bytes queued for a connection behind what its transport has not sent (0 for a connection not watched). */
export const queuedBytes = (conn: EngineSocket): number => outbound.get(conn)?.bytes ?? 0;

/**
 * Drops an engine.io connection whose client does not read. While the network has not taken the last
 * batch, engine.io queues every new packet in memory (a client that never reads would grow the server
 * without end); this counts what is queued, through engine.io's public socket events: each
 * `packetCreate` adds its data, each `flush` (the queue handed to the transport) empties it. A burst
 * of events is queued at once for every client, so a connection is dropped only when it is still
 * past the limit `SLOW_READER_GRACE_MS` later with nothing taken: reason `forced close` on the
 * server, `transport close` on the client, which reconnects by itself.
 */
export function dropSlowReader(conn: EngineSocket, maxBytes: number, onDrop: () => void): void {
  const state: Outbound = { bytes: 0, overLimit: undefined };
  outbound.set(conn, state);
  const check = (): void => {
    state.overLimit = undefined;
    if (state.bytes <= maxBytes || conn.readyState !== 'open') return;
    onDrop();
    conn.close(true);
  };
  conn.on('flush', () => {
    state.bytes = 0;
    clearTimeout(state.overLimit);
    state.overLimit = undefined;
  });
  conn.on('packetCreate', (packet: { data?: unknown }) => {
    state.bytes += sizeOf(packet.data);
    if (state.bytes > maxBytes && !state.overLimit) {
      state.overLimit = setTimeout(check, SLOW_READER_GRACE_MS);
      state.overLimit.unref();
    }
  });
  conn.once('close', () => clearTimeout(state.overLimit));
}
