import { envelopeOf, type Envelope } from '../../core/envelope.ts';
import type { AppContext } from '../../app-context.ts';
import type { AppendInterest } from '../../store/append-interest.ts';
import type { Instance, StoredEvent } from '../../store/types.ts';
import type { ConnectedClient } from '../channel.ts';
import type { EventRouter } from './event-routing.ts';
import { Replay } from './replay.ts';
import { instanceRoom, limitOf, liveRoom, ROOT_ROOM, type PomboNamespace, type PomboServer, type PomboSocket } from './socket-types.ts';

/**
 * Live events to sockets. Subscribes to the log's commits (so a socket never sees an event that is
 * not durable), routes each event once, builds its envelope once, and emits it to rooms (socket.io encodes
 * each broadcast once, whatever the number of sockets): the
 * cost per event does not depend on how many instances or configs exist, only on who listens.
 * Socket.IO is at-most-once live; a client that reconnects with `auth.lastEventId` is replayed.
 */
export class SocketFanOut {
  private readonly replays = new Set<Replay>();
  private readonly filteredCounts = new Map<string, number>();
  /** Filtered events per instance name not yet in the Prometheus counter (moved there on each scrape). */
  private readonly filteredUnscraped = new Map<string, number>();
  /** Instance name → its namespaces that have sockets (usually one; socket.io may briefly hold two). */
  private readonly namespaces = new Map<string, Set<PomboNamespace>>();
  /**
   * Instance id → the sockets of its own (in its namespace, or its token's on `/`): the instances whose
   * events this node must read (cluster mode), and the sockets a deletion disconnects.
   */
  private readonly instanceSockets = new Map<string, Set<PomboSocket>>();
  /** The global key's sockets on `/`: while there is one, this node must read every event. */
  private rootSockets = 0;
  private unsubscribe: (() => void) | undefined;
  private untally: (() => void) | undefined;

  constructor(
    private readonly io: PomboServer,
    private readonly router: EventRouter,
    private readonly context: AppContext,
  ) {}

  start(): void {
    this.unsubscribe = this.context.store.onAppend(
      (events) => this.publish(events),
      () => this.interest(),
    );
    this.untally = this.context.metrics.tallyFiltered(() => this.flushFiltered());
  }

  stop(): void {
    this.unsubscribe?.();
    this.flushFiltered();
    this.untally?.();
  }

  readonly serialize = (event: StoredEvent): Envelope => envelopeOf(event, this.context.envelope);

  /** An admitted socket: replays what it missed (`resumeAfter`), then receives live events. */
  admit(socket: PomboSocket): void {
    const { scope, resumeAfter } = socket.data;
    if (scope.kind === 'root') this.trackRoot(socket);
    else this.track(socket, scope.instanceId);
    if (resumeAfter === undefined) {
      void socket.join(liveRoom(scope));
      return;
    }
    const { dispatcher } = this.context;
    const source = { reads: dispatcher.catchUp, head: () => dispatcher.headPosition };
    const replay = new Replay(socket, scope, resumeAfter, source, this.router, this.serialize);
    this.replays.add(replay);
    replay
      .run()
      .catch((error: unknown) => {
        this.context.log.error({ err: error, namespace: socket.nsp.name }, 'socket.io replay failed');
        socket.disconnect();
      })
      .finally(() => this.replays.delete(replay));
  }

  /** Live events the instance's payload filter kept from its stream (for `/websocket/find`). */
  filtered(instanceId: string): number {
    return this.filteredCounts.get(instanceId) ?? 0;
  }

  private countFiltered(event: StoredEvent): void {
    this.filteredCounts.set(event.instanceId, this.filtered(event.instanceId) + 1);
    this.filteredUnscraped.set(event.instance, (this.filteredUnscraped.get(event.instance) ?? 0) + 1);
  }

  private flushFiltered(): void {
    for (const [instance_name, count] of this.filteredUnscraped) this.context.metrics.eventsFiltered.inc({ channel: 'websocket', instance_name }, count);
    this.filteredUnscraped.clear();
  }

  /** Sockets of one instance's own: in its namespace, and its token's on `/` (for `/websocket/find`). */
  connections(instanceId: string): number {
    return this.instanceSockets.get(instanceId)?.size ?? 0;
  }

  /** Every connected socket: on `/` and in the instances' namespaces. */
  clients(): ConnectedClient[] {
    const sockets = [...this.io.sockets.sockets.values()];
    for (const namespaces of this.namespaces.values()) for (const nsp of namespaces) sockets.push(...nsp.sockets.values());
    return sockets.map((socket) => {
      const { scope, resumeAfter } = socket.data;
      return {
        instance: limitOf(scope)?.instanceName ?? '*',
        client: socket.id,
        address: socket.handshake.address,
        connectedAt: socket.handshake.issued,
        detail: `namespace ${socket.nsp.name}${resumeAfter === undefined ? '' : ', resumed'}`,
      };
    });
  }

  /** Every event while the global key has a socket on `/` (it may hear any instance's), else the events of the instances with sockets. */
  private interest(): AppendInterest {
    return this.rootSockets > 0 ? { all: true } : { instances: this.instanceSockets.keys() };
  }

  /** The global key's socket on `/`: counted while it is connected. */
  private trackRoot(socket: PomboSocket): void {
    this.rootSockets++;
    socket.once('disconnect', () => this.rootSockets--);
  }

  /** An instance's socket: its instance (and namespace, if it is in one) are followed until its last socket leaves. */
  private track(socket: PomboSocket, instanceId: string): void {
    const sockets = this.instanceSockets.get(instanceId) ?? new Set<PomboSocket>();
    sockets.add(socket);
    this.instanceSockets.set(instanceId, sockets);
    socket.once('disconnect', () => {
      sockets.delete(socket);
      if (sockets.size === 0 && this.instanceSockets.get(instanceId) === sockets) this.instanceSockets.delete(instanceId);
    });
    if (socket.data.scope.kind === 'instance') this.trackNamespace(socket);
  }

  private trackNamespace(socket: PomboSocket): void {
    const name = socket.nsp.name.slice(1);
    const namespaces = this.namespaces.get(name) ?? new Set<PomboNamespace>();
    namespaces.add(socket.nsp);
    this.namespaces.set(name, namespaces);
    socket.once('disconnect', () => {
      if (socket.nsp.sockets.size > 0) return;
      namespaces.delete(socket.nsp);
      if (namespaces.size === 0 && this.namespaces.get(name) === namespaces) this.namespaces.delete(name);
    });
  }

  private publish(events: readonly StoredEvent[]): void {
    // Nobody connected (the common case on a server without Socket.IO clients): no work at all.
    if (this.io.engine.clientsCount === 0) return;
    for (const event of events) this.publishOne(event);
    for (const replay of this.replays) replay.buffer(events);
  }

  private publishOne(event: StoredEvent): void {
    const route = this.router.route(event);
    if (route.filtered) this.countFiltered(event);
    let payload: Envelope | undefined;
    if (route.instanceEvent) {
      const room = instanceRoom(event.instanceId);
      for (const nsp of this.namespaces.get(event.instance) ?? []) {
        if (nsp.adapter.rooms.has(room)) nsp.to(room).emit(route.instanceEvent, (payload ??= this.serialize(event)));
      }
    }
    if (route.rootEvents.length === 0) return;
    const rooms = this.rootRooms(event.instanceId);
    if (rooms.length === 0) return;
    payload ??= this.serialize(event);
    for (const name of route.rootEvents) this.io.sockets.to(rooms).emit(name, payload);
  }

  /**
   * The rooms on `/` that hear an event of the instance: the global key's, and the instance token's
   * (only those with sockets). Broadcast together, a name is still encoded once for both.
   */
  private rootRooms(instanceId: string): string[] {
    const { rooms } = this.io.sockets.adapter;
    const own = instanceRoom(instanceId);
    if (!rooms.has(own)) return rooms.has(ROOT_ROOM) ? [ROOT_ROOM] : [];
    return rooms.has(ROOT_ROOM) ? [ROOT_ROOM, own] : [own];
  }

  /**
   * After an instance is deleted, its sockets (in its namespace and its token's on `/`) are
   * disconnected, after the removal events they were sent (emitted when appended, before the
   * deletion): their token is gone, and a new instance may take the name. Every socket of the
   * instance, not only its room's: one still replaying has not joined the room yet, and would join it
   * once its replay ends, for good.
   */
  drop(instance: Pick<Instance, 'id'>): void {
    this.filteredCounts.delete(instance.id);
    for (const socket of [...(this.instanceSockets.get(instance.id) ?? [])]) socket.disconnect(true);
  }
}
