import type { Server } from 'node:http';
import type { AppContext } from '../../app-context.ts';
import { listeningPort, OutboundAddressPolicy } from '../../net/outbound-address-policy.ts';
import { brokerChannel } from '../broker/broker-channel.ts';
import type { ChannelModule } from '../channel.ts';
import { MASKED, parsePusherApp, PUSHER_APP_SCHEMA } from './pusher-app.ts';

/**
 * Pusher (seed 001 section 7) and Pusher-compatible servers: the `pusher` channel on the shared
 * broker machinery, with per-instance app credentials. The `pusher` library is imported only when
 * PUSHER_ENABLED=true; `find` never shows a secret. A host an instance sets follows the outbound
 * address policy (PUSHER_ALLOW_PRIVATE_NETWORKS, never Pombo itself); the global app's is the operator's.
 */
export async function pusherChannel(context: AppContext): Promise<ChannelModule> {
  let server: Server | undefined;
  const policy = new OutboundAddressPolicy({
    allowPrivateNetworks: context.config.brokers.pusher.settings?.allowPrivateNetworks ?? false,
    subject: 'Pusher hosts set per instance',
    variable: 'PUSHER_ALLOW_PRIVATE_NETWORKS',
    serverUrl: context.config.server.url,
    listenPort: () => listeningPort(server),
  });
  const channel = await brokerChannel(context, {
    name: 'pusher',
    envPrefix: 'PUSHER',
    config: context.config.brokers.pusher,
    // Triggers go 10 per call, one call after another: small batches keep a lane's latency low.
    maxBatch: 100,
    loadDriver: async (settings) => {
      const { PusherDriver } = await import('./pusher-driver.ts');
      return new PusherDriver(settings, policy);
    },
    extraSchema: PUSHER_APP_SCHEMA,
    parseExtra: (config, path) => parsePusherApp(config, path, (url) => policy.urlRefusal(url)),
    describeExtra: ({ secret, ...app }) => ({ ...app, ...(secret === undefined ? {} : { secret: MASKED }) }),
  });
  return {
    ...channel,
    // The listening server is known once routes are added: Pombo's own port is refused from then on.
    routes(app) {
      channel.routes?.(app);
      server = app.server;
    },
  };
}
