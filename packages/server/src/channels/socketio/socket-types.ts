import type { DefaultEventsMap, Namespace, Server, Socket } from 'socket.io';

/** One instance, by id (a new instance may reuse a name) and by name. */
export interface OneInstance {
  instanceId: string;
  instanceName: string;
}

/**
 * What a connection may see: every instance on `/` (the global key); on `/` too, one instance's events
 * as the global key gets them there (its token, with Evolution API's `/` client code); or one instance
 * in its namespace.
 */
export type Scope = { kind: 'root' } | ({ kind: 'root-instance' } & OneInstance) | ({ kind: 'instance' } & OneInstance);

/** The one instance a socket is limited to, whatever its namespace; null for the global key on `/`. */
export const limitOf = (scope: Scope): OneInstance | null => (scope.kind === 'root' ? null : scope);

/** What admission decided for a socket, kept on `socket.data`. */
export interface SocketData {
  scope: Scope;
  /** The log position after which missed events are replayed (from `auth.lastEventId` or `auth.offset`). */
  resumeAfter: number | undefined;
}

export type PomboServer = Server<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;
export type PomboNamespace = Namespace<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;
export type PomboSocket = Socket<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;

/** The room of an instance's sockets that receive live events, in its namespace or on `/` (keyed by id: a new instance may reuse a name). */
export const instanceRoom = (instanceId: string): string => `live:${instanceId}`;

/** The room of the global key's sockets on `/` that receive live events. */
export const ROOT_ROOM = 'live';

/** Sockets join their live room once they are up to date (at once, or after a replay). */
export const liveRoom = (scope: Scope): string => (scope.kind === 'root' ? ROOT_ROOM : instanceRoom(scope.instanceId));
