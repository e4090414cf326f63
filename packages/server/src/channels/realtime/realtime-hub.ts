import type { Duplex } from 'node:stream';
import type { AppContext } from '../../app-context.ts';
import type { SubscriberLeases } from '../../cluster/subscriber-leases.ts';
import { LeaseLostError } from '../../store/lease-lost-error.ts';
import { StoppedSends } from './stopped-sends.ts';
import type { ConnectedClient } from '../channel.ts';
import type { Instance, StoredEvent } from '../../store/types.ts';
import { atOnce } from '../../delivery/retry-policy.ts';
import { clock } from './ack-window.ts';
import { CLOSE, reasonOf } from './close-codes.ts';
import { RealtimeConnection, type ConnectionOwner, type RealtimeSocket } from './realtime-connection.ts';
import { feedId, RealtimeFeed, type RealtimeContext, type SubscriberLimits } from './realtime-feed.ts';
import { namesOf, type RealtimeFilter } from './realtime-filter.ts';
import { gapFrame } from './realtime-frame.ts';
import type { RealtimeRequest } from './realtime-request.ts';
import { resumePoint, type ResumePoint } from './realtime-resume.ts';
import { RealtimeSubscriber, subscriberId } from './realtime-subscriber.ts';

export interface HubOptions extends SubscriberLimits {
  pingIntervalMs: number;
  /** REALTIME_MAX_BUFFERED_BYTES: past it, a connection's client is not reading and is closed. */
  maxBufferedBytes: number;
  /** The filter for a client that names no events (the instance's realtime config). */
  defaultFilter(instance: Instance): RealtimeFilter;
  /** Whether the instance's payload filter lets an event through. */
  passes(event: StoredEvent): boolean;
}

/**
 * How often a subscriber's floor is written: after a crash, at most this much of acknowledged events
 * is sent again. The floors that moved in one slice are written together (one commit).
 */
const SAVE_INTERVAL_MS = 1000;

/**
 * Periodic work on every subscriber (floor writes, pings) is done a slice of the subscribers at a
 * time, spread over its interval: thousands at once would hold up the events of that moment.
 */
const SLICES = 10;

/** How long a starting subscriber waits for others to write their positions with. */
const START_SAVE_DELAY_MS = 5;

const AT_HEAD: ResumePoint = Object.freeze({ from: undefined });

const MOVED = 'a newer connection of this subscriber attached on another node, which serves it now: reconnect';

/**
 * The live side of the realtime protocol: an instance's feed, its subscribers and their sockets. A
 * subscriber lives in memory while it has a connection; its floor stays in the store in between, so
 * a subscriber resumes where it was after a disconnect or a restart.
 */
export class RealtimeHub implements ConnectionOwner {
  private readonly feeds = new Map<string, RealtimeFeed>();
  /** How often the unacknowledged events of stopped subscribers were sent (REALTIME_MAX_DELIVER counts across connections). */
  private readonly stoppedSends = new StoppedSends();
  /** Deletions being retired, by instance id: `retire` runs once per deletion. */
  private readonly retiring = new Map<string, Promise<void>>();
  private readonly subscribers = new Map<string, RealtimeSubscriber>();
  private readonly realtime: RealtimeContext;
  private readonly timers: NodeJS.Timeout[];
  /** Subscribers starting, whose positions are written together (`saveStart`). */
  private starting: RealtimeSubscriber[] = [];
  private startsSaved: Promise<void> | undefined;
  private closing = false;
  /** Slices are dealt to subscribers in turn. */
  private nextSlice = 0;
  private saveTick = 0;
  private pingTick = 0;
  readonly maxBufferedBytes: number;
  /** Cluster mode: where each durable subscriber is served (the node of its newest connection). */
  private readonly leases: SubscriberLeases | undefined;
  /** Takes the subscribers out of the dispatcher's gauges. */
  private readonly removeGauges: () => void;

  constructor(
    private readonly context: AppContext,
    private readonly options: HubOptions,
  ) {
    this.leases = context.cluster?.subscribers;
    this.leases?.onLost((id) => this.moved(id));
    const { ackWaitMs, maxInFlight, maxDeliver } = options;
    this.maxBufferedBytes = options.maxBufferedBytes;
    const { store, dispatcher, log, envelope } = context;
    this.realtime = {
      store,
      dispatcher,
      log,
      envelope,
      limits: { ackWaitMs, maxInFlight, maxDeliver },
      retry: atOnce(maxDeliver),
      reads: dispatcher.catchUp,
      passes: options.passes,
    };
    const sweepMs = Math.min(1000, Math.max(5, Math.floor(ackWaitMs / 10)));
    this.timers = [
      setInterval(() => this.expire(), sweepMs),
      setInterval(() => this.heartbeat(), options.pingIntervalMs / SLICES),
      setInterval(() => this.saveFloors(), SAVE_INTERVAL_MS / SLICES),
    ];
    for (const timer of this.timers) timer.unref();
    this.removeGauges = dispatcher.addGaugeSource((read) => this.readGauges(read));
  }

  /**
   * The subscribers this node serves, for the dispatcher's gauges (each node reports its own): their
   * backlog as `describe` shows it and their retrying events, under channel `realtime` and their instance.
   * The feed's destination alone is always caught up; what an instance's clients owe is here.
   */
  private readGauges(read: (channel: string, instanceId: string, lag: number, retrying: number) => void): void {
    for (const feed of this.feeds.values()) {
      const head = this.headOf(feed);
      for (const subscriber of feed.subscribers) if (subscriber.active) read('realtime', feed.instanceId, subscriber.backlog(head), subscriber.retrying);
    }
  }

  /** The log's head as a feed's subscribers' backlogs count it (the feed's cursor read first). */
  private headOf(feed: RealtimeFeed): number {
    feed.refresh();
    return Math.max(this.context.dispatcher.headPosition, feed.through());
  }

  /** Pings the connections of one slice of the subscribers. */
  private heartbeat(): void {
    const slice = this.pingTick++ % SLICES;
    for (const subscriber of this.subscribers.values()) {
      if (subscriber.slice === slice) for (const connection of subscriber.connections) connection.heartbeat();
    }
  }

  private expire(): void {
    const now = clock();
    for (const feed of this.feeds.values()) for (const subscriber of feed.subscribers) subscriber.expire(now);
  }

  /** Writes the floors of one slice of the subscribers that moved since their last save (in one tick: one commit). */
  private saveFloors(): void {
    const slice = this.saveTick++ % SLICES;
    for (const feed of this.feeds.values()) {
      feed.refresh();
      // A floor that could not be written is tried again by the next round.
      for (const subscriber of feed.subscribers) if (subscriber.slice === slice && subscriber.writer.moved) void this.save(subscriber);
    }
  }

  /** Writes a subscriber's floor and dead letters; resolves with the error of a write that failed (logged by the writer), else undefined. */
  private async save(subscriber: RealtimeSubscriber): Promise<unknown> {
    const epoch = this.leases?.epochOf(subscriber.id);
    const error = await subscriber.writer.flush();
    // Cluster mode: another node serves the subscriber now; this node's connections of it close.
    if (error instanceof LeaseLostError) this.leases?.refused(subscriber.id, epoch);
    return error;
  }

  /**
   * This node lost the subscriber's lease. Either another node serves it now (a newer connection of it
   * attached there): the connections it had here close with 4307 and their clients reconnect. Or its
   * instance was deleted on another node, which deleted the lease with it, before this node heard of
   * the deletion: its connections get the removal events and 4410, as where the instance was deleted.
   */
  private moved(id: string): void {
    const subscriber = this.subscribers.get(id);
    if (!subscriber) return;
    // Only these: one that attaches while the instance is looked up holds a lease of its own.
    const lost = [...subscriber.connections];
    const closeMoved = (): void => {
      for (const connection of lost) void this.end(connection, CLOSE.subscriberMoved, MOVED);
    };
    const { instanceId } = subscriber.feed;
    void this.context.store.getInstanceById(instanceId).then((instance) => (instance ? closeMoved() : this.retire(instanceId)), closeMoved);
  }

  /**
   * Writes the position of a subscriber that starts, together with those of the others that start
   * within a few milliseconds (clients connect in waves): one commit for many, not one each.
   */
  private saveStart(subscriber: RealtimeSubscriber): Promise<void> {
    this.starting.push(subscriber);
    this.startsSaved ??= new Promise((resolve) => setTimeout(resolve, START_SAVE_DELAY_MS)).then(() => {
      const starting = this.starting;
      this.starting = [];
      this.startsSaved = undefined;
      return Promise.all(starting.map((started) => this.save(started))).then((errors) => {
        // Not written: the periodic save tries again, and these attaches fail, as nothing may be sent first.
        const failed = errors.find((error) => error !== undefined);
        if (failed !== undefined) throw failed;
      });
    });
    return this.startsSaved;
  }

  /** Serves a freshly upgraded socket: resumes its subscriber and starts delivering. */
  open(request: RealtimeRequest, ws: RealtimeSocket, socket: Duplex): void {
    if (this.closing) return ws.close(CLOSE.goingAway, 'the server is shutting down');
    const subscriber = this.subscriberFor(request.instance.id, request.subscriber);
    const connection = new RealtimeConnection(ws, socket, request.filter ?? this.options.defaultFilter(request.instance), subscriber, this, request.maxInFlight);
    subscriber.pendingAttaches++;
    subscriber.serial(() => this.attach(subscriber, connection, request.lastEventId)).catch((error: unknown) => {
      // Another node took the subscriber over while this connection attached: it is served there.
      if (error instanceof LeaseLostError) return ws.close(CLOSE.subscriberMoved, MOVED);
      this.context.log.error({ err: error, destination: subscriber.id }, 'realtime subscription could not start');
      ws.close(CLOSE.internalError, 'the subscription could not start: try again');
    });
  }

  private subscriberFor(instanceId: string, name: string): RealtimeSubscriber {
    let subscriber = this.subscribers.get(subscriberId(instanceId, name));
    if (!subscriber) {
      subscriber = new RealtimeSubscriber(this.feedFor(instanceId), name, this.nextSlice++ % SLICES);
      // Keyed by its own id: one copy of the string per subscriber.
      this.subscribers.set(subscriber.id, subscriber);
    }
    return subscriber;
  }

  private feedFor(instanceId: string): RealtimeFeed {
    let feed = this.feeds.get(instanceId);
    if (!feed) {
      const created = new RealtimeFeed(instanceId, this.realtime);
      // A feed that could not start is made again by the next connection.
      created.ready.catch(() => {
        if (this.feeds.get(instanceId) === created) this.feeds.delete(instanceId);
      });
      this.feeds.set(instanceId, created);
      feed = created;
    }
    return feed;
  }

  private async attach(subscriber: RealtimeSubscriber, connection: RealtimeConnection, lastEventId: string | undefined): Promise<void> {
    try {
      if (connection.closed) return;
      const { store } = this.context;
      const { feed } = subscriber;
      if (!feed.started) await feed.ready;
      // Cluster mode: this node serves the subscriber from now on. Its floor is read once the node that
      // served it can no longer write it (the takeover waits for a write of it in flight).
      const epoch = this.leases && (await this.leases.take(subscriber.id));
      const cursor = subscriber.active ? subscriber.floor() : await store.getCursor(subscriber.id);
      // A new subscriber with no last_event_id starts at the head: nothing to look up.
      const { from, gap } = cursor === undefined && !lastEventId ? AT_HEAD : await resumePoint(store, feed.instanceId, cursor, lastEventId);
      if (connection.closed) return;
      if (gap) connection.ws.send(gapFrame(feed.instanceId, gap));
      if (subscriber.active) {
        // Only what last_event_id asked for: acks that came during the look-ups moved the floor past `cursor`.
        if (from !== undefined && cursor !== undefined && from < cursor) subscriber.rewind(from);
      } else {
        subscriber.start(from, this.stoppedSends.take(subscriber.id));
        subscriber.writer.loaded(cursor);
        // A new position is written before anything is sent: after a crash the subscriber must not start at a later head.
        if (subscriber.writer.moved) await this.saveStart(subscriber);
      }
      if (connection.closed) return;
      // The shutdown closed the connections attached before it.
      if (this.closing) return void this.end(connection, CLOSE.goingAway, 'the server is shutting down: reconnect');
      // Another node took the subscriber over meanwhile (a newer connection there).
      if (epoch !== undefined && !this.leases?.holds(subscriber.id, epoch)) return void this.end(connection, CLOSE.subscriberMoved, MOVED);
      subscriber.attach(connection);
    } finally {
      subscriber.pendingAttaches--;
    }
  }

  closed(connection: RealtimeConnection): Promise<void> {
    return this.detach(connection, 'the connection closed');
  }

  /**
   * Closes a connection whose client does not read (1013): its unacknowledged events go to the
   * subscriber's other connections or wait for its next one. Not at once: this is called while an
   * event is being sent, and detaching moves the subscriber's window under that send.
   */
  overflowed(connection: RealtimeConnection): void {
    this.context.metrics.slowConnectionsDropped.inc({ transport: 'realtime' });
    this.context.log.warn({ destination: connection.subscriber.id, limit: this.maxBufferedBytes }, 'realtime client reads too slowly: closing its connection');
    const reason = `the client reads too slowly: over ${this.maxBufferedBytes} bytes unsent (REALTIME_MAX_BUFFERED_BYTES)`;
    setImmediate(() => void this.end(connection, CLOSE.tryAgainLater, reason));
  }

  /**
   * Takes a closed connection out: its unacknowledged events go to the subscriber's other connections at
   * once. The last one stops the subscriber and writes its floor.
   */
  private detach(connection: RealtimeConnection, reason: string): Promise<void> {
    if (connection.closed) return Promise.resolve();
    connection.closed = true;
    const { subscriber } = connection;
    subscriber.detach(connection, reason);
    return subscriber.serial(async () => {
      if (subscriber.connections.length || subscriber.pendingAttaches) return;
      if (subscriber.active) {
        // Stopped once written: until then `describe` still lists it, so its listing ending means its acks are saved.
        await this.save(subscriber);
        this.stoppedSends.keep(subscriber.id, subscriber.stop());
      }
      // A connection opened meanwhile keeps it (its attach comes next).
      if (!subscriber.connections.length && !subscriber.pendingAttaches && this.subscribers.get(subscriber.id) === subscriber) {
        this.subscribers.delete(subscriber.id);
        this.context.dispatcher.forgetOutcomes(subscriber.id);
        this.leases?.forget(subscriber.id);
      }
    });
  }

  /** Detaches one connection (its floor written if it was the last), then closes it with a code and reason. */
  private async end(connection: RealtimeConnection, code: number, reason: string): Promise<void> {
    await this.detach(connection, reason);
    connection.ws.close(code, reasonOf(reason));
    setTimeout(() => connection.ws.terminate(), 1000).unref();
  }

  /**
   * After an instance is deleted: lets its live subscribers take and acknowledge the removal events
   * (the one at `removalPos`, read from the log when not given, and those before it), closes them, and
   * forgets the positions of every subscriber the instance had, connected or not. Never rejects (a
   * failure is logged).
   */
  async retire(instanceId: string, removalPos?: number): Promise<void> {
    // Once per deletion: it is heard of several ways (the refresh, each subscriber's lost lease), and a
    // second retire must not remove the feed while the first waits for the clients' acknowledgements.
    let retiring = this.retiring.get(instanceId);
    if (!retiring) {
      retiring = this.retireOnce(instanceId, removalPos).finally(() => this.retiring.delete(instanceId));
      this.retiring.set(instanceId, retiring);
    }
    return retiring;
  }

  private async retireOnce(instanceId: string, knownRemovalPos: number | undefined): Promise<void> {
    try {
      const feed = this.feeds.get(instanceId);
      if (feed) await this.closeFeed(feed, knownRemovalPos ?? (await this.removalPosOf(instanceId)));
      // A shutdown closes the store: the positions of an instance deleted just before it stay (under an id no instance gets again).
      if (this.closing) return;
      this.stoppedSends.forget(`${feedId(instanceId)}:`);
      await this.context.dispatcher.remove(feedId(instanceId), { forget: true, children: true });
    } catch (error) {
      this.context.log.error({ err: error, instanceId }, 'could not forget the realtime positions of a deleted instance');
    }
  }

  /**
   * Where an instance deleted on another node ends in the log, not this node's head: it may not have
   * heard of the removal events yet. Unknown (the read failed): its clients get the whole grace.
   */
  private async removalPosOf(instanceId: string): Promise<number> {
    try {
      return await this.context.store.lastPositionOf(instanceId);
    } catch (error) {
      this.context.log.warn({ err: error, instanceId }, 'could not read where a deleted instance ends in the log; its realtime clients get the whole grace');
      return Number.POSITIVE_INFINITY;
    }
  }

  private async closeFeed(feed: RealtimeFeed, removalPos: number): Promise<void> {
    const graceMs = Math.min(this.options.ackWaitMs, 10_000);
    this.feeds.delete(feed.instanceId);
    const deadline = Date.now() + graceMs;
    // The feed's cursor, not only the last event it handed over: a payload filter may keep the removal
    // events from the feed, whose cursor still moves past them.
    const drained = () => {
      feed.refresh();
      return feed.through() >= removalPos && feed.subscribers.every((subscriber) => subscriber.live && subscriber.inFlight === 0);
    };
    while (!drained() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const subscribers = [...this.subscribers.values()].filter((subscriber) => subscriber.feed === feed);
    const reason = 'the instance was deleted';
    await Promise.all(subscribers.flatMap((subscriber) => [...subscriber.connections].map((connection) => this.end(connection, CLOSE.instanceDeleted, reason))));
    // Their last floors are written before the positions are deleted, not after.
    await Promise.all(subscribers.map((subscriber) => subscriber.settled()));
    await this.context.dispatcher.remove(feed.id);
  }

  /** The live subscribers of an instance, for `GET /realtime/find/:instanceName`. */
  describe(instanceId: string): unknown[] {
    const feed = this.feeds.get(instanceId);
    if (!feed) return [];
    const head = this.headOf(feed);
    return feed.subscribers
      .filter((subscriber) => subscriber.active)
      .map((subscriber) => ({
        subscriber: subscriber.name,
        connections: subscriber.connections.map((connection) => ({ events: namesOf(connection.filter), inFlight: connection.inFlight })),
        backlog: subscriber.backlog(head),
        filtered: this.context.dispatcher.status(feed.id)?.filtered ?? 0,
        delivered: subscriber.stats.delivered,
        deadLettered: subscriber.stats.failed,
        lastError: subscriber.stats.lastError,
      }));
  }

  /** Every open connection, named by its instance (`name`) and subscriber. */
  clients(name: (instanceId: string) => string): ConnectedClient[] {
    return [...this.subscribers.values()].flatMap((subscriber) =>
      subscriber.connections.map((connection) => ({
        instance: name(subscriber.feed.instanceId),
        client: subscriber.name,
        address: connection.address,
        connectedAt: connection.connectedAt,
        detail: `events ${namesOf(connection.filter).join(', ')}; ${connection.inFlight} in flight`,
      })),
    );
  }

  /** Closes every connection (1001: reconnect later) and saves every subscriber's position. */
  async shutdown(): Promise<void> {
    this.closing = true;
    for (const timer of this.timers) clearInterval(timer);
    this.removeGauges();
    const reason = 'the server is shutting down: reconnect';
    await Promise.all(
      [...this.subscribers.values()].flatMap((subscriber) =>
        [...subscriber.connections].map((connection) => this.end(connection, CLOSE.goingAway, reason)),
      ),
    );
    // Connections still attaching are closed as their attach ends.
    await Promise.all([...this.subscribers.values()].map((subscriber) => subscriber.settled()));
  }
}
