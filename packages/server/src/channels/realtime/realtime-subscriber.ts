import { realtimeTypeOf, type EventKey } from '../../core/event-names.ts';
import { InTurn } from '../../core/in-turn.ts';
import { DeliveryStats } from '../../delivery/delivery-stats.ts';
import type { DestinationRef } from '../../delivery/destination.ts';
import { deliveryRecord, type LedgerOwner, type LedgerWriter } from '../../delivery/ledger-writer.ts';
import { DELIVERED, retry } from '../../delivery/outcome.ts';
import { givesUp, type RetryPolicy } from '../../delivery/retry-policy.ts';
import type { StoredEvent } from '../../store/types.ts';
import { AckWindow, clock } from './ack-window.ts';
import type { RealtimeConnection } from './realtime-connection.ts';
import { feedId, type RealtimeFeed } from './realtime-feed.ts';
import { accepts, keysOf } from './realtime-filter.ts';
import { frameOf } from './realtime-frame.ts';

/** `pick`'s answer when every connection that wants an event is at the window its client asked for. */
const FULL = Symbol('every connection that wants it is full');

/** Events read from the log at once by a subscriber that is behind. */
const PAGE = 500;
/** Room a subscriber that is behind waits for in its window before it reads the log again. */
const READ_AHEAD = 64;

const NONE: readonly RealtimeConnection[] = Object.freeze([]);

/** The ledger key of one (instance, subscriber name): its durable cursor is stored under it. */
export const subscriberId = (instanceId: string, name: string): string => `${feedId(instanceId)}:${name}`;

/**
 * One durable subscriber (instance, name), as in NATS JetStream: its ack floor is kept in the store's
 * ledger, its unacknowledged events in a compact window. It follows its instance's feed live, or,
 * when it is behind (a resume, a full window), reads the log itself until it reaches the feed.
 * Connections with the same name share its events; each name gets every event.
 *
 * It is a destination of the dispatcher's contract without a worker of its own (thousands of them
 * share their feed's): an ack is a `delivered` outcome, an ack wait that passed or a connection that
 * closed first a `retry`, and the one retry rule (`givesUp`, with REALTIME_MAX_DELIVER attempts)
 * dead-letters it. Outcomes go to the dispatcher's metrics and log (`Dispatcher.reportOutcome`); the floor
 * and the dead letters to the ledger through its writer, as a worker's cursor and records do.
 */
export class RealtimeSubscriber implements DestinationRef, LedgerOwner {
  readonly id: string;
  /** Replaced, not changed, when a connection comes or goes (rare): an array of exactly its length. */
  connections: readonly RealtimeConnection[] = NONE;
  /** Connections opened and not attached yet: the subscriber stays in memory while there are some. */
  pendingAttaches = 0;
  /** In its feed, with a position: from its first attach until its last connection is gone. */
  active = false;
  /** Following the feed; otherwise reading the log after `readPos` until it reaches the feed. */
  live = false;
  /** While behind: every event of the instance up to here was sent or skipped. */
  private readPos = 0;
  private reading = false;
  /** Moves on each rewind, so that a read of the log started before it is dropped. */
  private epoch = 0;
  private window: AckWindow<RealtimeConnection> | undefined;
  /** Writes the floor (`position`) and the dead letters. */
  readonly writer: LedgerWriter;
  readonly stats = new DeliveryStats();
  private turn = 0;
  /** Its attaches and detaches, one at a time. */
  private readonly tasks = new InTurn();
  /** Sends of events before its last stop that it has not sent again yet, by position (stopped-sends.ts). */
  private carried: Map<number, number> | undefined;

  constructor(
    readonly feed: RealtimeFeed,
    name: string,
    /** Which slice of the periodic work (floor writes, pings) it falls in. */
    readonly slice: number,
  ) {
    this.id = subscriberId(feed.instanceId, name);
    this.writer = feed.context.dispatcher.ledger.writer(this.id, this);
  }

  /** The subscriber's name (not kept apart from its id: a string less per subscriber). */
  get name(): string {
    return this.id.slice(this.feed.id.length + 1);
  }

  get channel(): string {
    return 'realtime';
  }

  get instanceId(): string {
    return this.feed.instanceId;
  }

  get retry(): RetryPolicy {
    return this.feed.context.retry;
  }

  /** Its feed observes the latency of the events it hands on (`DestinationRef.relayed`). */
  get relayed(): boolean {
    return true;
  }

  /** What its writer saves: the ack floor. */
  position(): number {
    return this.floor();
  }

  /** Runs `task` after every earlier one of this subscriber, so attaches and detaches never interleave. */
  serial<T>(task: () => Promise<T>): Promise<T> {
    return this.tasks.run(task);
  }

  /** Resolves once no attach or detach is queued. */
  settled(): Promise<void> {
    return this.tasks.idle();
  }

  get inFlight(): number {
    return this.window?.size ?? 0;
  }

  /** Its unacknowledged events that failed at least once (an ack wait passed, a connection closed first): sent again, or waiting for a connection. */
  get retrying(): number {
    return this.window?.retrying ?? 0;
  }

  /** What it still owes up to `head`: the events past its floor, sent and unacknowledged or not sent yet. */
  backlog(head: number): number {
    return Math.max(0, head - this.floor());
  }

  /**
   * The ack floor: every event of the instance up to it is acknowledged, dead-lettered or not wanted.
   * A subscriber resumes after it.
   */
  floor(): number {
    const read = this.live ? this.feed.through() : this.readPos;
    const oldest = this.window?.size ? this.window.oldestPos() : Number.POSITIVE_INFINITY;
    return Math.min(read, oldest - 1);
  }

  /** Starts following the log after `from` (undefined: at the feed, i.e. the log's head); `carried`: what `stop` answered last time. */
  start(from: number | undefined, carried?: Map<number, number>): void {
    this.carried = carried;
    this.active = true;
    this.feed.subscribers.push(this);
    if (from === undefined || from >= this.feed.position) this.live = true;
    else this.fallBehind(from);
  }

  /** Goes back to `from` for a connection that resumes from further back: those events go again. */
  rewind(from: number): void {
    if (from >= this.floor()) return;
    this.fallBehind(from);
  }

  private fallBehind(readPos: number): void {
    this.live = false;
    this.readPos = readPos;
    this.epoch++;
  }

  /**
   * Stops: the subscriber leaves its feed; what it has not acknowledged is below its floor, sent again
   * next time. Answers how many times each of those events was sent, for the next start.
   */
  stop(): Map<number, number> {
    const sends = this.carried ?? new Map<number, number>();
    const window = this.window;
    window?.forEach((slot) => void sends.set(window.event(slot).pos, window.sends(slot)));
    this.carried = undefined;
    this.active = false;
    this.live = false;
    this.window = undefined;
    const feed = this.feed.subscribers;
    const index = feed.indexOf(this);
    if (index >= 0) feed.splice(index, 1);
    return sends;
  }

  /** Adds a connection: events waiting for one go to it, and reading resumes if the subscriber is behind. */
  attach(connection: RealtimeConnection): void {
    this.connections = this.connections.length ? [...this.connections, connection] : [connection];
    // A read of the log under way was for the filters before this one: its page is read again with this one's.
    this.epoch++;
    this.window?.forEach((slot) => {
      if (this.window?.target(slot) === null) this.sendAgain(slot);
    });
    if (!this.live) void this.catchUp();
  }

  /** Takes a closed connection out; its unacknowledged events go to another connection, or wait for one. */
  detach(connection: RealtimeConnection, reason: string): void {
    this.connections = this.connections.length === 1 && this.connections[0] === connection ? NONE : this.connections.filter((other) => other !== connection);
    const window = this.window;
    window?.forEach((slot) => {
      if (window.target(slot) === connection) this.failed(slot, reason);
    });
    connection.inFlight = 0;
  }

  /**
   * The events sent and not acknowledged it may have at once: REALTIME_MAX_IN_FLIGHT, or less when its
   * clients asked for less (`max_in_flight`, added up over its connections).
   */
  private get maxInFlight(): number {
    const cap = this.feed.context.limits.maxInFlight;
    let asked = 0;
    for (const connection of this.connections) asked += connection.maxInFlight ?? cap;
    return asked > 0 ? Math.min(cap, asked) : cap;
  }

  /**
   * The events sent to its connections and not acknowledged: what its window limits. Events waiting in
   * the window for a connection that wants them (theirs closed unacknowledged) are owed, not sent, and
   * leave room: counted, they could fill the window and stall the connections left.
   */
  private get sending(): number {
    let sent = 0;
    for (const connection of this.connections) sent += connection.inFlight;
    return sent;
  }

  /** A live event from the feed (in log order). */
  offer(event: StoredEvent, type: string): void {
    const connection = this.pick(event.event, type);
    if (connection === undefined) {
      // No connection wants it: nothing to do, unless there is no connection at all (one is attaching).
      if (!this.connections.length) this.fallBehind(event.pos - 1);
      return;
    }
    if (connection === FULL || this.sending >= this.maxInFlight) {
      this.fallBehind(event.pos - 1);
      return;
    }
    this.send(event, connection);
  }

  private send(event: StoredEvent, connection: RealtimeConnection): void {
    const { limits, envelope } = this.feed.context;
    this.window ??= new AckWindow();
    const earlier = this.carried?.get(event.pos);
    if (earlier !== undefined) this.carried?.delete(event.pos);
    this.window.add(event, connection, clock() + limits.ackWaitMs, (earlier ?? 0) + 1);
    connection.inFlight++;
    connection.send(frameOf(event, envelope));
  }

  /** Acks are per event and in any order, from any of the subscriber's connections; an unknown id is ignored. */
  ack(eventId: string): void {
    const window = this.window;
    const slot = window ? window.find(eventId) : -1;
    if (!window || slot < 0) return;
    const target = window.target(slot);
    if (target) target.inFlight--;
    this.feed.context.dispatcher.reportOutcome(this, DELIVERED, window.event(slot), window.sends(slot));
    this.stats.count(DELIVERED, false);
    window.remove(slot);
    this.resume();
  }

  /** Sends again the events whose ack wait has passed (or dead-letters them). */
  expire(now: number): void {
    const window = this.window;
    if (!window?.size) return;
    window.forEachDue(now, (slot) => {
      (window.target(slot) as RealtimeConnection).inFlight--;
      this.failed(slot, `no ack within ${this.feed.context.limits.ackWaitMs} ms`);
    });
  }

  /** A send that got no ack (the wait passed, the connection closed): the event goes again, unless it was sent often enough. */
  private failed(slot: number, error: string): void {
    const window = this.window as AckWindow<RealtimeConnection>;
    const outcome = retry(error);
    const sends = window.sends(slot);
    this.feed.context.dispatcher.reportOutcome(this, outcome, window.event(slot), sends);
    const gaveUp = givesUp(outcome, sends, this.retry);
    this.stats.count(outcome, gaveUp);
    if (gaveUp) this.deadLetter(slot, error);
    else this.sendAgain(slot);
  }

  /**
   * Sends an event of the window again, to the connection that takes it now. With none (no connection,
   * or none left that asks for its type), it waits for the next one that does, below the floor: a
   * connection that took it and closed unacknowledged is owed it, whatever the others ask for.
   */
  private sendAgain(slot: number): void {
    const window = this.window as AckWindow<RealtimeConnection>;
    const event = window.event(slot);
    // Sent again even to a connection at its window: it was counted when first sent (to it, or to one
    // that closed), so the events in flight do not grow.
    const connection = this.pick(event.event, realtimeTypeOf(event), { whateverRoom: true });
    if (connection && connection !== FULL) {
      window.resend(slot, connection, clock() + this.feed.context.limits.ackWaitMs);
      connection.inFlight++;
      connection.send(frameOf(event, this.feed.context.envelope));
    } else window.resend(slot, null, 0);
  }

  private deadLetter(slot: number, error: string): void {
    const window = this.window as AckWindow<RealtimeConnection>;
    const event = window.event(slot);
    const sends = window.sends(slot);
    window.remove(slot);
    const attempt = { at: new Date().toISOString(), durationMs: 0, error: `${error} (sent ${sends} times: REALTIME_MAX_DELIVER)` };
    // Written with the floor that passes it, in one write (a failed write is tried again with the next floor).
    this.writer.queue(deliveryRecord(this.id, event, 'failed', [attempt]));
    void this.writer.flush();
    this.resume();
  }

  /** A subscriber that is behind reads on once its window has room for a few events (not a read of the log per ack). */
  private resume(): void {
    if (this.live || this.reading) return;
    const maxInFlight = this.maxInFlight;
    if (maxInFlight - this.sending >= Math.max(1, Math.min(READ_AHEAD, Math.floor(maxInFlight / 2)))) void this.catchUp();
  }

  /** Reads the log after `readPos` into the window until the subscriber reaches the feed, then follows it live. */
  private async catchUp(): Promise<void> {
    if (this.reading || this.live || !this.active) return;
    const { reads, log } = this.feed.context;
    this.reading = true;
    try {
      for (;;) {
        const room = this.maxInFlight - this.sending;
        if (!this.active || this.live || !this.connections.length || room <= 0) return;
        // Everything after the feed's position comes from the feed: read up to it, then follow it.
        const until = this.feed.position;
        if (this.readPos >= until) {
          this.live = true;
          return;
        }
        const epoch = this.epoch;
        const keys = keysOf(this.connections.map((connection) => connection.filter));
        const limit = Math.min(PAGE, room);
        const page = await reads.read(this.feed.instanceId, keys, this.readPos, until, limit);
        if (epoch !== this.epoch) continue;
        if (!this.take(page.events)) return;
        this.readPos = Math.max(this.readPos, page.through);
      }
    } catch (error) {
      log.error({ err: error, destination: this.id }, 'realtime subscriber could not read the log; retrying in 1s');
      setTimeout(() => void this.catchUp(), 1000).unref();
    } finally {
      this.reading = false;
    }
  }

  /** Sends a page read from the log; false when it stopped (a full window, no connection) before its end. */
  private take(page: readonly StoredEvent[]): boolean {
    const window = this.window;
    // After a rewind, events still unacknowledged are in the window already: they are not sent twice.
    const newest = window?.size ? window.newestPos() : -1;
    for (const event of page) {
      // Read from the log, not handed by the feed: the instance's payload filter applies here too.
      if ((event.pos <= newest && window?.has(event.pos)) || !this.feed.context.passes(event)) {
        this.readPos = event.pos;
        continue;
      }
      const connection = this.pick(event.event, realtimeTypeOf(event));
      if (connection === undefined && !this.connections.length) return false;
      if (connection !== undefined) {
        if (connection === FULL || this.sending >= this.maxInFlight) return false;
        this.send(event, connection);
      }
      this.readPos = event.pos;
    }
    return true;
  }

  /** The live connection that wants the event and has the fewest unacked events, taking turns on ties. */
  /**
   * The connection to send an event of this kind to: of those that want it, the one with the fewest
   * events in flight and room in the window its client asked for (`max_in_flight`); FULL when every one
   * that wants it is at its window (the event waits in the log); undefined when none wants it.
   */
  private pick(key: EventKey, type: string, { whateverRoom = false } = {}): RealtimeConnection | typeof FULL | undefined {
    const connections = this.connections;
    const count = connections.length;
    const hasRoom = (connection: RealtimeConnection): boolean => whateverRoom || connection.maxInFlight === undefined || connection.inFlight < connection.maxInFlight;
    if (count === 1) {
      const only = connections[0] as RealtimeConnection;
      if (only.closed || !accepts(only.filter, key, type)) return undefined;
      return hasRoom(only) ? only : FULL;
    }
    let best: RealtimeConnection | undefined;
    let wanted = false;
    for (let i = 0; i < count; i++) {
      const connection = connections[(this.turn + i) % count] as RealtimeConnection;
      if (connection.closed || !accepts(connection.filter, key, type)) continue;
      wanted = true;
      if (hasRoom(connection) && (!best || connection.inFlight < best.inFlight)) best = connection;
    }
    this.turn = (this.turn + 1) % Math.max(1, count);
    return best ?? (wanted ? FULL : undefined);
  }
}
