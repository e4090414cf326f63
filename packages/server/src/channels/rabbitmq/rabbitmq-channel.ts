import type { AppContext } from '../../app-context.ts';
import { brokerChannel } from '../broker/broker-channel.ts';
import type { ChannelModule } from '../channel.ts';

/**
 * RabbitMQ (seed 001 section 3): the `rabbitmq` channel on the shared broker machinery. amqplib is
 * imported only when RABBITMQ_ENABLED=true.
 */
export function rabbitmqChannel(context: AppContext): Promise<ChannelModule> {
  return brokerChannel(context, {
    name: 'rabbitmq',
    envPrefix: 'RABBITMQ',
    config: context.config.brokers.rabbitmq,
    // Several batches in flight per lane: confirms come back in publish order on one channel, so the
    // next batch need not wait for the previous one's answers (see bench/brokers.ts).
    pipeline: 8,
    loadDriver: async (settings) => {
      const { RabbitMqDriver } = await import('./rabbitmq-driver.ts');
      return new RabbitMqDriver(settings, context.log.child({ channel: 'rabbitmq' }));
    },
  });
}
