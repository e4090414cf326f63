import type { RawData, WebSocket } from 'ws';
import { delivered, retry, type Outcome } from '../../delivery/outcome.ts';
import { ackedId } from './realtime-frame.ts';
import type { RealtimeFilter } from './realtime-filter.ts';
import type { RealtimeSubscriber } from './realtime-subscriber.ts';

interface Pending {
  readonly resolve: (outcome: Outcome) => void;
  readonly deadline: number;
}

/** What a connection reports to: the hub. */
export interface ConnectionOwner {
  readonly ackWaitMs: number;
  closed(connection: RealtimeConnection): void;
}

// One set of socket listeners for every connection (not closures per socket): a connection is idle most of its life.
const connections = new WeakMap<WebSocket, RealtimeConnection>();

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const connection = connections.get(this);
  if (!connection) return;
  connection.alive = true;
  if (!isBinary) connection.ack(ackedId(data.toString()));
}

function onPong(this: WebSocket): void {
  const connection = connections.get(this);
  if (connection) connection.alive = true;
}

function onClose(this: WebSocket): void {
  const connection = connections.get(this);
  if (connection) connection.owner.closed(connection);
}

function onError(this: WebSocket): void {
  this.terminate();
}

/**
 * One client socket of a subscriber: writes event frames and settles each one when its ack arrives,
 * when the ack wait passes, or when the socket closes.
 */
export class RealtimeConnection {
  /** In send order, so an expiry sweep stops at the first one still in time. */
  private readonly pending = new Map<string, Pending>();
  alive = true;
  closed = false;

  constructor(
    readonly ws: WebSocket,
    readonly filter: RealtimeFilter,
    readonly subscriber: RealtimeSubscriber,
    readonly owner: ConnectionOwner,
  ) {
    connections.set(ws, this);
    ws.on('message', onMessage).on('pong', onPong).on('close', onClose).on('error', onError);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Writes one event frame (UTF-8 text); resolves `delivered` on its ack, `retry` when the wait passes or the socket closes. */
  deliver(eventId: string, frame: Buffer): Promise<Outcome> {
    return new Promise((resolve) => {
      this.pending.set(eventId, { resolve, deadline: Date.now() + this.owner.ackWaitMs });
      this.ws.send(frame, { binary: false });
    });
  }

  /** Acks are per event and in any order; an unknown, repeated or empty id is ignored. */
  ack(eventId: string | undefined): void {
    if (eventId === undefined) return;
    const pending = this.pending.get(eventId);
    if (!pending) return;
    this.pending.delete(eventId);
    pending.resolve(delivered());
  }

  /** Settles the deliveries whose ack wait has passed: they are redelivered (to this or another socket). */
  expire(now: number): void {
    for (const [eventId, pending] of this.pending) {
      if (pending.deadline > now) return;
      this.pending.delete(eventId);
      pending.resolve(retry(`no ack within ${this.owner.ackWaitMs} ms`, 0));
    }
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

  /** Marks the connection closed and hands its unacknowledged deliveries back for redelivery. */
  release(reason: string): void {
    this.closed = true;
    for (const pending of this.pending.values()) pending.resolve(retry(reason, 0));
    this.pending.clear();
  }
}
