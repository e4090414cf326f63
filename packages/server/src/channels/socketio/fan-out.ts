import { envelopeOf, type Envelope } from '../../core/envelope.ts';
import type { AppContext } from '../../app-context.ts';
import type { AppendInterest } from '../../store/append-interest.ts';
import type { Instance, StoredEvent } from '../../store/types.ts';
import type { ConnectedClient } from '../channel.ts';
import type { EventRouter } from './event-routing.ts';
import { Replay } from './replay.ts';
import { instanceRoom, liveRoom, ROOT_ROOM, type PomboNamespace, type PomboServer, type PomboSocket } from './socket-types.ts';

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
  /** Instance id → its sockets connected to its namespace: the instances whose events this node must read (cluster mode). */
  private readonly instanceSockets = new Map<string, number>();
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
    if (scope.kind === 'instance') this.track(socket, scope.instanceId);
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

  /** Sockets of one instance connected to its namespace (for `/websocket/find`). */
  connections(instanceId: string, instanceName: string): number {
    let count = 0;
    for (const nsp of this.namespaces.get(instanceName) ?? []) {
      for (const socket of nsp.sockets.values()) if (socket.data.scope.kind === 'instance' && socket.data.scope.instanceId === instanceId) count++;
    }
    return count;
  }

  /** Every connected socket: on `/` and in the instances' namespaces. */
  clients(): ConnectedClient[] {
    const sockets = [...this.io.sockets.sockets.values()];
    for (const namespaces of this.namespaces.values()) for (const nsp of namespaces) sockets.push(...nsp.sockets.values());
    return sockets.map((socket) => {
      const { scope, resumeAfter } = socket.data;
      return {
        instance: scope.kind === 'root' ? '*' : scope.instanceName,
        client: socket.id,
        address: socket.handshake.address,
        connectedAt: socket.handshake.issued,
        detail: `namespace ${socket.nsp.name}${resumeAfter === undefined ? '' : ', resumed'}`,
      };
    });
  }

  /** Every event while a socket is on `/` (it may hear any instance's), else the events of the instances with sockets. */
  private interest(): AppendInterest {
    return this.io.sockets.sockets.size > 0 ? { all: true } : { instances: this.instanceSockets.keys() };
  }

  /** An instance's socket: its namespace and instance are followed until its last socket leaves. */
  private track(socket: PomboSocket, instanceId: string): void {
    this.instanceSockets.set(instanceId, (this.instanceSockets.get(instanceId) ?? 0) + 1);
    const name = socket.nsp.name.slice(1);
    const namespaces = this.namespaces.get(name) ?? new Set<PomboNamespace>();
    namespaces.add(socket.nsp);
    this.namespaces.set(name, namespaces);
    socket.once('disconnect', () => {
      const left = (this.instanceSockets.get(instanceId) ?? 1) - 1;
      if (left > 0) this.instanceSockets.set(instanceId, left);
      else this.instanceSockets.delete(instanceId);
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
    if (route.rootEvents.length > 0 && this.io.sockets.adapter.rooms.has(ROOT_ROOM)) {
      payload ??= this.serialize(event);
      for (const name of route.rootEvents) this.io.sockets.to(ROOT_ROOM).emit(name, payload);
    }
  }

  /**
   * After an instance is deleted, its namespace's sockets are disconnected, after the removal events
   * they were sent (emitted when appended, before the deletion): their token is gone, and a new
   * instance may take the name. Every socket of the instance, not only its room's: one still replaying
   * has not joined the room yet, and would join it once its replay ends, for good.
   */
  drop(instance: Pick<Instance, 'id' | 'name'>): void {
    this.filteredCounts.delete(instance.id);
    for (const nsp of this.namespaces.get(instance.name) ?? []) {
      for (const socket of nsp.sockets.values()) {
        const { scope } = (socket as PomboSocket).data;
        if (scope?.kind === 'instance' && scope.instanceId === instance.id) socket.disconnect(true);
      }
    }
  }
}
