import type { EventLog, StoredEvent } from '../../store/types.ts';
import type { EventRouter } from './event-routing.ts';
import type { Envelope } from '../../core/envelope.ts';
import { queuedBytes } from './slow-readers.ts';
import { liveRoom, type PomboSocket, type Scope } from './socket-types.ts';

const PAGE = 500;
/** A replay waits for the network to take what it queued once it queued this much. */
const REPLAY_QUEUE_BYTES = 256 * 1024;

/** The names an event goes out under for one socket: its instance stream, or its names on `/`. */
export function namesFor(router: EventRouter, scope: Scope, event: StoredEvent): readonly string[] {
  const route = router.route(event);
  if (scope.kind === 'root') return route.rootEvents;
  return route.instanceEvent && event.instanceId === scope.instanceId ? [route.instanceEvent] : [];
}

/** Resolves once engine.io handed what the socket has queued to the network, so a long replay never piles up in memory. */
function drained(socket: PomboSocket): Promise<void> {
  const conn = socket.conn;
  if (queuedBytes(conn) === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      conn.off('flush', done);
      conn.off('close', done);
      resolve();
    };
    conn.on('flush', done);
    conn.on('close', done);
  });
}

/**
 * Replays a reconnecting socket's missed events from the log, then puts it in its live room with
 * no gap and no duplicate: live events appended meanwhile are buffered, and sent after the replay
 * unless the log read already returned them (same position).
 */
export class Replay {
  private readonly pending: StoredEvent[] = [];
  private lastPos: number;

  constructor(
    private readonly socket: PomboSocket,
    private readonly scope: Scope,
    afterPos: number,
    private readonly store: EventLog,
    private readonly router: EventRouter,
    private readonly serialize: (event: StoredEvent) => Envelope,
  ) {
    this.lastPos = afterPos;
  }

  /** Live events appended while the replay runs (called from the store's onAppend). */
  buffer(events: readonly StoredEvent[]): void {
    for (const event of events) {
      if (this.scope.kind === 'root' || event.instanceId === this.scope.instanceId) this.pending.push(event);
    }
  }

  /** Sends the missed events, then the buffered live ones, then joins the live room (synchronously: nothing slips in between). */
  async run(): Promise<void> {
    const instanceId = this.scope.kind === 'instance' ? this.scope.instanceId : undefined;
    for (;;) {
      const page = await this.store.read({ afterPos: this.lastPos, instanceId, limit: PAGE });
      if (!this.socket.connected) return;
      for (const event of page) {
        this.send(event);
        if (queuedBytes(this.socket.conn) < REPLAY_QUEUE_BYTES) continue;
        await drained(this.socket);
        if (!this.socket.connected) return;
      }
      if (page.length < PAGE) break;
    }
    for (const event of this.pending) if (event.pos > this.lastPos) this.send(event);
    this.pending.length = 0;
    void this.socket.join(liveRoom(this.scope));
  }

  private send(event: StoredEvent): void {
    this.lastPos = event.pos;
    const names = namesFor(this.router, this.scope, event);
    if (names.length === 0) return;
    const payload = this.serialize(event);
    for (const name of names) this.socket.emit(name, payload);
  }
}
