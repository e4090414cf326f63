import type { DefaultEventsMap, Namespace, Server, Socket } from 'socket.io';

/** What a connection may see: every instance on `/` (global key), or one instance in its namespace. */
export type Scope = { kind: 'root' } | { kind: 'instance'; instanceId: string; instanceName: string };

/** What admission decided for a socket, kept on `socket.data`. */
export interface SocketData {
  scope: Scope;
  /** The log position after which missed events are replayed (from `auth.lastEventId` or `auth.offset`). */
  resumeAfter: number | undefined;
}

export type PomboServer = Server<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;
export type PomboNamespace = Namespace<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;
export type PomboSocket = Socket<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;

/** The room of an instance's sockets that receive live events, in its namespace (keyed by id: a new instance may reuse a name). */
export const instanceRoom = (instanceId: string): string => `live:${instanceId}`;

/** The room of the sockets on `/` that receive live events. */
export const ROOT_ROOM = 'live';

/** Sockets join their live room once they are up to date (at once, or after a replay). */
export const liveRoom = (scope: Scope): string => (scope.kind === 'root' ? ROOT_ROOM : instanceRoom(scope.instanceId));
