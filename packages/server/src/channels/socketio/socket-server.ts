import type { FastifyInstance } from 'fastify';
import type { Socket as EngineSocket } from 'engine.io';
import { Server } from 'socket.io';
import { corsOrigin } from '../../config/cors.ts';
import type { AppContext } from '../../app-context.ts';
import { INSTANCE_NAME } from '../../core/validate.ts';
import { admission } from './admission.ts';
import { EventRouter } from './event-routing.ts';
import { SocketFanOut } from './fan-out.ts';
import { onSendMessage } from './send-message.ts';
import { dropSlowReader } from './slow-readers.ts';
import { hintIfSilent } from './silence-hint.ts';
import type { PomboServer, PomboSocket } from './socket-types.ts';

export interface SocketServerOptions {
  globalEvents: boolean;
}

/**
 * Serves Socket.IO on Pombo's HTTP server, at socket.io's default path `/socket.io/`: `/` for the
 * global key (every instance's events, named by instance, and `*`) and for instance tokens (the same
 * names, of their own instance only), and one namespace per instance `/<instanceName>` (dotted event
 * names). Other upgrade requests (the realtime protocol at
 * `/events/ws`) are left to their own handlers.
 */
export function attachSocketServer(app: FastifyInstance, context: AppContext, options: SocketServerOptions): SocketFanOut {
  const io: PomboServer = new Server(app.server, {
    serveClient: false,
    // CORS_ORIGIN as for the REST API (Evolution API passes it to socket.io too): browser dashboards on
    // another origin can long-poll. Safe with `*` because the key travels in the handshake, never in a cookie.
    cors: { origin: corsOrigin(context.config.cors), credentials: context.config.cors.credentials },
    // engine.io would otherwise end every upgrade it does not handle after a second.
    destroyUpgrade: false,
    // Namespaces live while they have sockets; a refused connection leaves nothing behind.
    cleanupEmptyChildNamespaces: true,
    // A connection that has not joined a namespace (no key, a refused key, nothing sent) is closed after it.
    connectTimeout: context.config.connections.socketioConnectTimeoutMs,
  });
  const fanOut = new SocketFanOut(io, new EventRouter(context.instances, options.globalEvents), context);
  const admit = admission(context);
  const gauge = context.metrics.socketioConnections;
  // Every scope has a sample from the start: a dashboard shows 0 connections, not "no data".
  for (const scope of ['root', 'root-instance', 'instance'] as const) gauge.set({ scope }, 0);
  const connected = (socket: PomboSocket): void => {
    const scope = socket.data.scope.kind;
    gauge.inc({ scope });
    socket.once('disconnect', () => gauge.dec({ scope }));
    onSendMessage(context, socket);
    hintIfSilent(context, socket, options.globalEvents);
    fanOut.admit(socket);
  };

  const { socketioMaxBufferedBytes } = context.config.connections;
  io.engine.on('connection', (conn: EngineSocket) =>
    dropSlowReader(conn, socketioMaxBufferedBytes, () => {
      context.metrics.slowConnectionsDropped.inc({ transport: 'socketio' });
      context.log.warn({ limit: socketioMaxBufferedBytes }, 'socket.io client reads too slowly: closing its connection');
    }),
  );
  io.use(admit);
  io.on('connection', connected);
  // A namespace per instance, created on the first connection (before the instance's first event);
  // admission then answers an unknown instance with a clear error instead of "Invalid namespace".
  const instances = io.of((name, _auth, next) => next(null, INSTANCE_NAME.test(name.slice(1))));
  instances.use(admit);
  instances.on('connection', connected);

  fanOut.start();
  app.addHook('preClose', async () => {
    fanOut.stop();
    // Closing the transports (not disconnecting) lets clients reconnect to the restarted server.
    io.engine.close();
  });
  return fanOut;
}
