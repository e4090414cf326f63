import type { FastifyInstance } from 'fastify';
import { WebSocketServer } from 'ws';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { PomboError, validationError } from '../../core/errors.ts';
import { PAYLOAD_FILTER_SCHEMA, parsePayloadFilter, passesFilter, type PayloadFilter } from '../../core/payload-filter.ts';
import type { AppContext } from '../../app-context.ts';
import { nullableFields, strictObject } from '../../core/schemas.ts';
import { eventListLength, type Obj } from '../../core/validate.ts';
import type { Instance } from '../../store/types.ts';
import type { ChannelModule } from '../channel.ts';
import { refuse } from './close-codes.ts';
import { EVERY_EVENT, namesOf, parseFilter } from './realtime-filter.ts';
import { RealtimeSocket } from './realtime-connection.ts';
import { FEEDS } from './realtime-feed.ts';
import { RealtimeHub } from './realtime-hub.ts';
import { isRealtimePath, parseRealtimeRequest } from './realtime-request.ts';
import { SubscriberNames } from './subscriber-names.ts';

interface RealtimeInstanceConfig {
  /** The events a connection gets when it names none (names as the `events` query accepts them). */
  events: string[];
  /** Which events every subscriber of the instance gets, by what they carry (core/payload-filter.ts). */
  filter?: PayloadFilter | null;
}

/** Until a socket is a WebSocket (or refused), an error on it just ends it. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

const configOf = (instance: Instance): RealtimeInstanceConfig | undefined =>
  instance.channels.realtime as RealtimeInstanceConfig | undefined;

/**
 * The acknowledged WebSocket protocol at `/events/ws` (docs/realtime-protocol.md): each instance with
 * subscribers has one dispatcher destination, its feed, that hands its events to every (instance,
 * subscriber name); a subscriber's events go to its live sockets and count as delivered only when
 * the client acks them.
 */
export function realtimeChannel(context: AppContext): ChannelModule {
  const { realtime } = context.config;
  const hub = new RealtimeHub(context, {
    ...realtime,
    maxBufferedBytes: context.config.connections.realtimeMaxBufferedBytes,
    defaultFilter: (instance) => {
      const events = configOf(instance)?.events;
      return events?.length ? parseFilter(events) : EVERY_EVENT;
    },
    passes: (event) => {
      const instance = context.instances.findById(event.instanceId);
      const filter = instance && configOf(instance)?.filter;
      return !filter || passesFilter(filter, event);
    },
  });

  const names = new SubscriberNames(context.store, realtime.maxSubscribers);

  const internal = (error: unknown): PomboError => {
    const reference = randomUUID();
    context.log.error({ err: error, reference }, 'realtime handshake failed');
    return new PomboError('POMBO_ERR_INTERNAL', { reference });
  };

  return {
    name: 'realtime',
    configSchema: strictObject(nullableFields({
      // Every channel body may carry `enabled`; realtime serves whoever connects with a valid key, so it changes nothing.
      enabled: { type: 'boolean', description: 'Accepted as in every channel body; changes nothing (subscribers decide by connecting).' },
      events: {
        type: 'array',
        items: { type: 'string' },
        'x-message': 'must be an array of event names (Message, Connected, MESSAGES_UPSERT, …)',
        description: 'The events a connection gets when it names none: realtime types (Message, Connected, …) or event names in any form.',
      },
      filter: PAYLOAD_FILTER_SCHEMA,
    })),
    parseConfig(config: Obj, path: string): RealtimeInstanceConfig {
      const events = config.events ?? [];
      if (!Array.isArray(events) || events.some((name) => typeof name !== 'string')) {
        throw validationError(`${path}.events must be an array of event names (Message, Connected, MESSAGES_UPSERT, …)`);
      }
      eventListLength(events, `${path}.events`);
      return {
        events: namesOf(parseFilter(events as string[])).filter((name) => name !== 'All'),
        filter: parsePayloadFilter(config.filter, `${path}.filter`),
      };
    },
    describe: (instance) => ({ events: configOf(instance)?.events ?? [], filter: configOf(instance)?.filter ?? null, subscribers: hub.describe(instance.id) }),
    destinations: () => [],
    globalDestinations: () => [],
    routes(app: FastifyInstance) {
      // No compression: connections write whole frames to their sockets beside ws's own (RealtimeConnection.send).
      const wss = new WebSocketServer({
        noServer: true,
        clientTracking: false,
        maxPayload: 64 * 1024,
        perMessageDeflate: false,
        WebSocket: RealtimeSocket,
      });
      const refuseWith = (request: IncomingMessage, socket: Duplex, head: Buffer, error: unknown) => {
        const refusal = error instanceof PomboError ? error : internal(error);
        const path = request.url?.split('?')[0];
        context.log.info({ code: refusal.code, path, address: request.socket.remoteAddress }, 'realtime connection refused');
        refuse(wss, request, socket, head, refusal);
      };
      app.server.on('upgrade', (request, socket, head: Buffer) => {
        if (!isRealtimePath(request.url)) return;
        socket.on('error', destroyOnError);
        try {
          const parsed = parseRealtimeRequest(request, context.auth, context.instances);
          names
            .admit(parsed.instance.id, parsed.instance.name, parsed.subscriber)
            .then(
              (ended) => {
                let connected = false;
                try {
                  wss.handleUpgrade(request, socket, head, (ws) => {
                    connected = true;
                    // The WebSocket handles its socket's errors from now on.
                    socket.off('error', destroyOnError);
                    try {
                      hub.open(parsed, ws as RealtimeSocket, socket);
                    } catch (error) {
                      // Upgraded already: no HTTP answer is possible any more, so the connection ends as a server error.
                      context.log.error({ err: error, instance: parsed.instance.name }, 'realtime connection could not open');
                      ws.close(1011, 'internal error');
                    }
                  });
                } finally {
                  // Without verifyClient, ws has answered when handleUpgrade returns: it called back with the
                  // WebSocket, or refused the handshake (400 for a bad header) or destroyed a socket the client
                  // had left. A new name whose handshake did not connect no longer counts toward the limit.
                  ended(connected);
                }
              },
              (error: unknown) => refuseWith(request, socket, head, error),
            )
            // A throw of handleUpgrade itself (before any answer) must not become an unhandled rejection that stops Node.
            .catch((error: unknown) => refuseWith(request, socket, head, error));
        } catch (error) {
          refuseWith(request, socket, head, error);
        }
      });
      app.addHook('preClose', async () => hub.shutdown());
    },
    released: async (instance, removalPos) => {
      await hub.retire(instance.id, removalPos);
      names.forget(instance.id);
    },
    clients: () => hub.clients((instanceId) => context.dispatcher.instanceLabel(instanceId)),
    // Every subscriber name an instance has used keeps a position in the ledger until the instance is deleted.
    // One read for every instance: `realtime:<instance>` (a feed) and `realtime:<instance>:<name>` (its subscribers).
    subscribers: async () => {
      const instances = new Set(context.instances.list().map(({ id }) => id));
      return (await context.store.listChildren(FEEDS)).flatMap((id) => {
        // Instance ids are UUIDs: the first ':' after the feeds' prefix ends one.
        const end = id.indexOf(':', FEEDS.length + 1);
        const instanceId = id.slice(FEEDS.length + 1, end);
        return end > 0 && instances.has(instanceId) ? [{ id, instanceId }] : [];
      });
    },
    async stop() {
      await hub.shutdown();
    },
  };
}
