import type { CatchUpReads } from '../../delivery/catch-up-reads.ts';
import type { StoredEvent } from '../../store/types.ts';
import type { EventRouter } from './event-routing.ts';
import type { Envelope } from '../../core/envelope.ts';
import { queuedBytes } from './slow-readers.ts';
import { limitOf, liveRoom, type PomboSocket, type Scope } from './socket-types.ts';

const PAGE = 500;
/**
 * Live events a replay keeps for its end at most. Past it, it drops those at or below the head: it
 * reads the log through the head before it joins the live room, so they reach the socket from the log
 * (a socket that reads slowly while events pour in would otherwise hold all of them in memory).
 */
const PENDING_MAX = 1000;
/** A replay waits for the network to take what it queued once it queued this much. */
const REPLAY_QUEUE_BYTES = 256 * 1024;

/** The names an event goes out under for one socket: its instance stream, or its names on `/` (of its instance only, for a token). */
export function namesFor(router: EventRouter, scope: Scope, event: StoredEvent): readonly string[] {
  if (scope.kind !== 'root' && event.instanceId !== scope.instanceId) return [];
  const route = router.route(event);
  if (scope.kind !== 'instance') return route.rootEvents;
  return route.instanceEvent ? [route.instanceEvent] : [];
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

/** Where a replay reads: the log reads shared with other readers that are behind, up to the newest position this node heard of. */
export interface ReplaySource {
  readonly reads: CatchUpReads;
  /** The log's head as the dispatcher knows it: every event up to it was committed and handed to `buffer` or before the replay began. */
  head(): number;
}

/**
 * Replays a reconnecting socket's missed events from the log, then puts it in its live room with
 * no gap and no duplicate: live events appended meanwhile are buffered, and sent after the replay
 * unless the log read already returned them (same position). Sockets that reconnect in a wave after
 * a restart read the same stretch: the shared reads (delivery/catch-up-reads.ts) read it once.
 */
export class Replay {
  private pending: StoredEvent[] = [];
  private lastPos: number;

  constructor(
    private readonly socket: PomboSocket,
    private readonly scope: Scope,
    afterPos: number,
    private readonly source: ReplaySource,
    private readonly router: EventRouter,
    private readonly serialize: (event: StoredEvent) => Envelope,
  ) {
    this.lastPos = afterPos;
  }

  /** Live events appended while the replay runs (called from the store's onAppend). */
  buffer(events: readonly StoredEvent[]): void {
    for (const event of events) {
      if (this.scope.kind === 'root' || event.instanceId === this.scope.instanceId) this.insert(event);
    }
    if (this.pending.length > PENDING_MAX) this.dropRead(this.source.head());
  }

  /**
   * Keeps the buffer in position order. Notifications mostly come in log order (the event goes last, no
   * walk), but not always: another node's in cluster mode, or two commits' listeners interleaving.
   */
  private insert(event: StoredEvent): void {
    let at = this.pending.length;
    while (at > 0 && (this.pending[at - 1] as StoredEvent).pos > event.pos) at--;
    this.pending.splice(at, 0, event);
  }

  /**
   * Drops the buffered events at or below `head`. The buffer is in position order, so they lead it: the
   * walk stops at the first one kept, and a buffer the head has not moved past costs nothing.
   */
  private dropRead(head: number): void {
    let read = 0;
    while (read < this.pending.length && (this.pending[read] as StoredEvent).pos <= head) read++;
    if (read > 0) this.pending.splice(0, read);
  }

  /** Sends the missed events, then the buffered live ones, then joins the live room (synchronously: nothing slips in between). */
  async run(): Promise<void> {
    const instanceId = limitOf(this.scope)?.instanceId ?? null;
    // Events after the head come in `pending`: they were appended after the replay began.
    for (let until = this.source.head(); this.lastPos < until; until = this.source.head()) {
      const page = await this.source.reads.read(instanceId, null, this.lastPos, until, PAGE);
      if (!this.socket.connected) return;
      for (const event of page.events) {
        this.send(event);
        if (queuedBytes(this.socket.conn) < REPLAY_QUEUE_BYTES) continue;
        await drained(this.socket);
        if (!this.socket.connected) return;
      }
      this.lastPos = Math.max(this.lastPos, page.through);
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
