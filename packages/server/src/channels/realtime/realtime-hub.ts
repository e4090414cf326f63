import type { WebSocket } from 'ws';
import type { AppContext } from '../../http/app-context.ts';
import type { Instance, StoredEvent } from '../../store/types.ts';
import { CLOSE, reasonOf } from './close-codes.ts';
import { RealtimeConnection, type ConnectionOwner } from './realtime-connection.ts';
import { namesOf, type RealtimeFilter } from './realtime-filter.ts';
import { gapFrame } from './realtime-frame.ts';
import type { RealtimeRequest } from './realtime-request.ts';
import { resumePoint } from './realtime-resume.ts';
import { RealtimeSubscriber, subscriberId, type SubscriberLimits } from './realtime-subscriber.ts';

export interface HubOptions extends SubscriberLimits {
  ackWaitMs: number;
  pingIntervalMs: number;
  /** The filter for a client that names no events (the instance's realtime config). */
  defaultFilter(instance: Instance): RealtimeFilter;
}

const REPLAY_PAGE = 1000;

/**
 * The live side of the realtime protocol: subscribers and their sockets. A subscriber's destination
 * exists while it has a connection; its cursor stays in the store in between, so a subscriber
 * resumes where it was after a disconnect or a restart.
 */
export class RealtimeHub implements ConnectionOwner {
  readonly ackWaitMs: number;
  private readonly subscribers = new Map<string, RealtimeSubscriber>();
  private readonly timers: NodeJS.Timeout[];
  private closing = false;

  constructor(
    private readonly context: AppContext,
    private readonly options: HubOptions,
  ) {
    this.ackWaitMs = options.ackWaitMs;
    const sweepMs = Math.min(1000, Math.max(5, Math.floor(options.ackWaitMs / 10)));
    this.timers = [
      setInterval(() => this.eachConnection((connection) => connection.expire(Date.now())), sweepMs),
      setInterval(() => this.eachConnection((connection) => connection.heartbeat()), options.pingIntervalMs),
    ];
    for (const timer of this.timers) timer.unref();
  }

  private eachConnection(visit: (connection: RealtimeConnection) => void): void {
    for (const subscriber of this.subscribers.values()) for (const connection of subscriber.connections) visit(connection);
  }

  /** Serves a freshly upgraded socket: resumes its subscriber and starts delivering. */
  open(request: RealtimeRequest, ws: WebSocket): void {
    if (this.closing) return ws.close(CLOSE.goingAway, 'the server is shutting down');
    const subscriber = this.subscriberFor(request.instance.id, request.subscriber);
    const connection = new RealtimeConnection(ws, request.filter ?? this.options.defaultFilter(request.instance), subscriber, this);
    subscriber.serial(() => this.attach(subscriber, connection, request.lastEventId)).catch((error: unknown) => {
      this.context.log.error({ err: error, destination: subscriber.id }, 'realtime subscription could not start');
      ws.close(CLOSE.internalError, 'the subscription could not start: try again');
    });
  }

  private subscriberFor(instanceId: string, name: string): RealtimeSubscriber {
    const id = subscriberId(instanceId, name);
    let subscriber = this.subscribers.get(id);
    if (!subscriber) {
      subscriber = new RealtimeSubscriber(instanceId, name, this.context.envelope);
      this.subscribers.set(id, subscriber);
    }
    return subscriber;
  }

  private async attach(subscriber: RealtimeSubscriber, connection: RealtimeConnection, lastEventId: string | undefined): Promise<void> {
    if (connection.closed) return;
    const { dispatcher, store } = this.context;
    const live = dispatcher.has(subscriber.id);
    const saved = await store.getCursor(subscriber.id);
    const cursor = live ? Math.max(saved ?? 0, dispatcher.status(subscriber.id)?.cursor ?? 0) : saved;
    const { from, gap } = await resumePoint(store, subscriber.instanceId, cursor, lastEventId);
    if (connection.closed) return;
    if (gap) connection.ws.send(gapFrame(subscriber.instanceId, gap));
    if (!live && from !== undefined && from !== saved) await store.saveDeliveries(subscriber.id, [], from);
    subscriber.connections.push(connection);
    dispatcher.upsert(subscriber.spec(this.options));
    if (live && from !== undefined && cursor !== undefined && from < cursor) await this.replay(subscriber, from, cursor);
  }

  /** Sends a live subscriber's events in (from, until] again, for a connection that resumes from further back. */
  private async replay(subscriber: RealtimeSubscriber, from: number, until: number): Promise<void> {
    const events = subscriber.spec(this.options).events;
    for (let after = from; after < until; ) {
      const page = await this.context.store.read({
        afterPos: after,
        untilPos: until,
        instanceId: subscriber.instanceId,
        limit: REPLAY_PAGE,
        ...(events ? { events: [...events] } : {}),
      });
      await this.context.dispatcher.replay(subscriber.id, page);
      after = page.length < REPLAY_PAGE ? until : (page.at(-1) as StoredEvent).pos;
    }
  }

  closed(connection: RealtimeConnection): void {
    void this.detach(connection, 'the connection closed');
  }

  /** Takes a closed connection out; the last one of a subscriber stops its destination (its cursor stays). */
  private detach(connection: RealtimeConnection, reason: string): Promise<void> {
    if (connection.closed) return Promise.resolve();
    const { subscriber } = connection;
    connection.closed = true;
    return subscriber.serial(async () => {
      const index = subscriber.connections.indexOf(connection);
      if (index >= 0) subscriber.connections.splice(index, 1);
      if (subscriber.connections.length) {
        this.context.dispatcher.upsert(subscriber.spec(this.options));
        connection.release(reason);
        return;
      }
      // Stopped first, so that the deliveries handed back are not sent again to nobody.
      const removal = this.context.dispatcher.remove(subscriber.id);
      connection.release(reason);
      await removal;
      if (!subscriber.connections.length) this.subscribers.delete(subscriber.id);
    });
  }

  /** Closes one connection with a code and reason, and detaches it at once. */
  private async end(connection: RealtimeConnection, code: number, reason: string): Promise<void> {
    connection.ws.close(code, reasonOf(reason));
    setTimeout(() => connection.ws.terminate(), 1000).unref();
    await this.detach(connection, reason);
  }

  /** After an instance is deleted: lets its subscribers drain the removal events, then closes them and forgets them. */
  async retire(instanceId: string, graceMs = Math.min(this.options.ackWaitMs, 10_000)): Promise<void> {
    // Called from the store's append listener: let the dispatcher take the removal events first, and
    // the deletion finish (a producer may also ingest a REMOVE_INSTANCE for an instance that lives on).
    await new Promise((resolve) => setImmediate(resolve));
    if (this.context.instances.findById(instanceId)) return;
    const subscribers = [...this.subscribers.values()].filter((subscriber) => subscriber.instanceId === instanceId);
    await Promise.all(
      subscribers.map(async (subscriber) => {
        const drained = this.context.dispatcher.whenIdle(subscriber.id);
        await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
        const reason = 'the instance was deleted';
        await Promise.all([...subscriber.connections].map((connection) => this.end(connection, CLOSE.instanceDeleted, reason)));
        await subscriber.serial(() => this.context.dispatcher.remove(subscriber.id, { forget: true }));
      }),
    );
  }

  /** The live subscribers of an instance, for `GET /realtime/find/:instanceName`. */
  describe(instanceId: string): unknown[] {
    return [...this.subscribers.values()]
      .filter((subscriber) => subscriber.instanceId === instanceId && subscriber.connections.length)
      .map((subscriber) => {
        const status = this.context.dispatcher.status(subscriber.id);
        return {
          subscriber: subscriber.name,
          connections: subscriber.connections.map((connection) => ({ events: namesOf(connection.filter), inFlight: connection.inFlight })),
          backlog: this.context.dispatcher.lag(subscriber.id) ?? 0,
          delivered: status?.delivered ?? 0,
          deadLettered: status?.failed ?? 0,
          lastError: status?.lastError ?? null,
        };
      });
  }

  /** Closes every connection (1001: reconnect later) and saves every subscriber's position. */
  async shutdown(): Promise<void> {
    this.closing = true;
    for (const timer of this.timers) clearInterval(timer);
    const reason = 'the server is shutting down: reconnect';
    await Promise.all(
      [...this.subscribers.values()].flatMap((subscriber) =>
        [...subscriber.connections].map((connection) => this.end(connection, CLOSE.goingAway, reason)),
      ),
    );
  }
}
