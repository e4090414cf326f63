import type { AppContext } from '../../app-context.ts';
import { brokerChannel } from '../broker/broker-channel.ts';
import type { ChannelModule } from '../channel.ts';

/**
 * NATS (seed 001 section 6): the `nats` channel on the shared broker machinery. The NATS client is
 * imported only when NATS_ENABLED=true.
 */
export function natsChannel(context: AppContext): Promise<ChannelModule> {
  return brokerChannel(context, {
    name: 'nats',
    envPrefix: 'NATS',
    config: context.config.brokers.nats,
    // Several batches in flight per lane: one connection keeps the publish order; each message is answered (flush or JetStream ack), so the
    // next batch need not wait for the previous one's answers (see bench/brokers.ts).
    pipeline: 8,
    loadDriver: async (settings) => {
      const { NatsDriver } = await import('./nats-driver.ts');
      return new NatsDriver(settings, context.log.child({ channel: 'nats' }));
    },
  });
}
