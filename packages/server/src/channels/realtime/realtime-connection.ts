import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { SLOW_READER_GRACE_MS } from '../../config/connection-limits.ts';
import { ackedId } from './realtime-frame.ts';
import type { RealtimeFilter } from './realtime-filter.ts';
import type { RealtimeSubscriber } from './realtime-subscriber.ts';

/** What a connection reports to: the hub. */
export interface ConnectionOwner {
  /** Takes the connection out of its subscriber; resolves once a floor its close moved is written. */
  closed(connection: RealtimeConnection): Promise<void>;
  /** Bytes a connection's socket may hold unsent (REALTIME_MAX_BUFFERED_BYTES). */
  readonly maxBufferedBytes: number;
  /** The client does not read: more than `maxBufferedBytes` wait in its socket. */
  overflowed(connection: RealtimeConnection): void;
}

// One set of socket listeners for every connection (not closures per socket): a connection is idle most of its life.
const connections = new WeakMap<WebSocket, RealtimeConnection>();

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const connection = connections.get(this);
  if (!connection) return;
  connection.alive = true;
  if (isBinary || connection.closed) return;
  const eventId = ackedId(data.toString());
  if (eventId !== undefined) connection.subscriber.ack(eventId);
}

function onPong(this: WebSocket): void {
  const connection = connections.get(this);
  if (connection) connection.alive = true;
}

function onClose(this: WebSocket): void {
  const connection = connections.get(this);
  if (connection) void connection.owner.closed(connection);
}

/**
 * ws emits 'error' for a frame the protocol forbids (past `maxPayload`, text that is not UTF-8, an
 * unmasked frame, …) after it has called `close()` with the code that says why (1009, 1007, 1002, …),
 * and for a failed write after it has ended the socket: it closes the connection either way. This
 * listener only keeps the error from being thrown; ending the socket here would cut the close frame,
 * which `RealtimeSocket.close` writes only once the connection's floor is written, and the client
 * would see 1006 (reconnect) instead of the code that tells it to fix its frames.
 */
function onError(): void {}

const OPEN = 1;

/**
 * The server's WebSocket (the `WebSocket` option of ws's server). ws answers a client's close frame by
 * calling `close()`; here that answer waits until the connection is out of its subscriber and a floor
 * its close moved is written, so a client whose close handshake completed knows that every ack it sent
 * before is saved, even if the server is killed the next moment. Closes by the server wait the same way.
 */
export class RealtimeSocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    const connection = connections.get(this);
    if (!connection || connection.closed || this.readyState !== OPEN) return super.close(code, data);
    // ws hands the reason as a view of the socket's read buffer: kept as a copy for the deferred answer.
    const reason = Buffer.isBuffer(data) ? Buffer.from(data) : data;
    void connection.owner.closed(connection).finally(() => super.close(code, reason));
  }
}

/** One client socket of a subscriber: writes event frames, passes acks on, answers for its liveness. */
export class RealtimeConnection {
  alive = true;
  closed = false;
  /** Its client stopped reading: nothing more is written to it, it is being closed. */
  overflowing = false;
  /** Set while its socket's unsent bytes are past the limit: the check at the end of the grace. */
  private overLimit: NodeJS.Timeout | undefined;
  /** Events sent on this socket and not acknowledged yet (the subscriber's window says which). */
  inFlight = 0;
  readonly connectedAt = Date.now();

  constructor(
    readonly ws: RealtimeSocket,
    /** The upgraded socket under `ws`, to which whole event frames are written. */
    private readonly socket: Duplex,
    readonly filter: RealtimeFilter,
    readonly subscriber: RealtimeSubscriber,
    readonly owner: ConnectionOwner,
    /** The events its client takes unacknowledged at once (`max_in_flight`); undefined: the server's limit. */
    readonly maxInFlight?: number,
  ) {
    connections.set(ws, this);
    ws.on('message', onMessage).on('pong', onPong).on('close', onClose).on('error', onError);
  }

  /**
   * Writes one event's whole frame (`frameOf`) to the socket: the same bytes for every socket, one
   * write each, where `ws.send` would frame the payload again for each socket. `ws` writes its own
   * frames (pings, close) at once too (no compression is negotiated), so frames never interleave.
   */
  get address(): string | undefined {
    return (this.socket as Partial<Socket>).remoteAddress;
  }

  send(frame: Buffer): void {
    if (this.ws.readyState !== OPEN || this.overflowing) return;
    const socket = this.socket;
    socket.write(frame);
    // What the network has not taken stays in memory: a client that stops reading must not grow it without end.
    if (socket.writableLength > this.owner.maxBufferedBytes && !this.overLimit) {
      this.overLimit = setTimeout(() => this.checkUnsent(), SLOW_READER_GRACE_MS);
      this.overLimit.unref();
    }
  }

  /** A burst (a resume) may pass the limit for a moment; a client that is still past it after the grace is closed. */
  private checkUnsent(): void {
    this.overLimit = undefined;
    if (this.closed || this.socket.writableLength <= this.owner.maxBufferedBytes) return;
    this.overflowing = true;
    this.owner.overflowed(this);
  }

  /** Pings the client; a socket that answered nothing since the previous ping is cut. */
  heartbeat(): void {
    if (!this.alive) {
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }
}
