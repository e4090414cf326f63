import type { AppContext } from '../../app-context.ts';
import { brokerChannel } from '../broker/broker-channel.ts';
import type { ChannelModule } from '../channel.ts';
import { MASKED, parsePusherApp, PUSHER_APP_SCHEMA } from './pusher-app.ts';

/**
 * Pusher (seed 001 section 7) and Pusher-compatible servers: the `pusher` channel on the shared
 * broker machinery, with per-instance app credentials. The `pusher` library is imported only when
 * PUSHER_ENABLED=true; `find` never shows a secret.
 */
export function pusherChannel(context: AppContext): Promise<ChannelModule> {
  return brokerChannel(context, {
    name: 'pusher',
    envPrefix: 'PUSHER',
    config: context.config.brokers.pusher,
    // Triggers go 10 per call, one call after another: small batches keep a lane's latency low.
    maxBatch: 100,
    loadDriver: async (settings) => {
      const { PusherDriver } = await import('./pusher-driver.ts');
      return new PusherDriver(settings);
    },
    extraSchema: PUSHER_APP_SCHEMA,
    parseExtra: parsePusherApp,
    describeExtra: ({ secret, ...app }) => ({ ...app, ...(secret === undefined ? {} : { secret: MASKED }) }),
  });
}
