import { PAYLOAD_FILTER_SCHEMA, parsePayloadFilter } from '../../core/payload-filter.ts';
import type { AppContext } from '../../app-context.ts';
import { selectedKeys } from '../../core/event-names.ts';
import { eventList, optionalBoolean, type Obj } from '../../core/validate.ts';
import { booleanField, eventList as eventListSchema, nullableFields, strictObject } from '../../core/schemas.ts';
import type { Instance } from '../../store/types.ts';
import type { ChannelModule } from '../channel.ts';
import { websocketConfigOf, type WebsocketInstanceConfig } from './event-routing.ts';
import type { SocketFanOut } from './fan-out.ts';
import { attachSocketServer } from './socket-server.ts';

/**
 * Evolution API lets the addresses of WEBSOCKET_ALLOWED_HOSTS in without a key (seed 001's line lists
 * loopback). Pombo asks every connection for a key, so the list is left nothing to do: it is accepted,
 * whatever it holds, so that an Evolution API configuration starts unchanged, and said once to have no effect.
 */
function noticeAllowedHosts(context: AppContext): void {
  const hosts = context.config.websocket.allowedHosts;
  if (hosts.length === 0) return;
  context.log.warn(
    { WEBSOCKET_ALLOWED_HOSTS: hosts.join(',') },
    'WEBSOCKET_ALLOWED_HOSTS has no effect: Pombo asks every Socket.IO connection for a key, from any address (Evolution API lets the listed addresses in without one)',
  );
}

/**
 * Socket.IO as Evolution API serves it (seeds 001 and 002), with authentication on every
 * connection and replay by `auth.lastEventId`. Its config key and routes are `websocket`
 * (`POST /websocket/set/:instanceName` `{"websocket": {enabled, events}}`). It has no dispatcher
 * destination: Socket.IO is at most once, a socket has no durable identity (its id changes with each
 * connection, it resumes by an event id), so there is no position or retry to keep for it. Sockets are
 * fed live from the log's commits (one broadcast per room), and replay what they missed through the
 * dispatcher's shared catch-up reads, as realtime subscribers that are behind do.
 */
export function socketioChannel(context: AppContext): ChannelModule {
  const { enabled, globalEvents } = context.config.websocket;
  noticeAllowedHosts(context);
  let fanOut: SocketFanOut | undefined;

  return {
    name: 'websocket',
    configSchema: strictObject(nullableFields({
      enabled: booleanField("Serve the instance's events on its Socket.IO namespace (default true)."),
      events: eventListSchema(),
      filter: PAYLOAD_FILTER_SCHEMA,
    })),
    parseConfig(config: Obj, path: string): WebsocketInstanceConfig {
      const on = optionalBoolean(config, 'enabled', `${path}.enabled`) ?? true;
      return { enabled: on, events: on ? eventList(config, 'events', `${path}.events`) : [], filter: parsePayloadFilter(config.filter, `${path}.filter`) };
    },
    describe(instance: Instance) {
      const config = websocketConfigOf(instance);
      // As Evolution API's `find`: a configuration never set is null (a client's `if (websocket)` is false).
      if (!config) return null;
      return {
        enabled: config.enabled,
        events: selectedKeys(config.events),
        filter: config.filter ?? null,
        channelEnabled: enabled,
        ...(enabled ? {} : { hint: 'the server has WEBSOCKET_ENABLED=false: set it to true to serve Socket.IO' }),
        namespace: `/${instance.name}`,
        state: { connections: fanOut?.connections(instance.id) ?? 0, filtered: fanOut?.filtered(instance.id) ?? 0 },
      };
    },
    destinations: () => [],
    globalDestinations: () => [],
    routes(app) {
      if (enabled) fanOut = attachSocketServer(app, context, { globalEvents });
    },
    clients: () => fanOut?.clients() ?? [],
    async released(instance) {
      fanOut?.drop(instance);
    },
    async stop() {
      fanOut?.stop();
    },
  };
}
