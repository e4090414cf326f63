import type { AppContext } from '../../app-context.ts';
import { brokerChannel } from '../broker/broker-channel.ts';
import type { ChannelModule } from '../channel.ts';

/**
 * Apache Kafka (seed 001 section 5): the `kafka` channel on the shared broker machinery.
 * @platformatic/kafka is imported only when KAFKA_ENABLED=true.
 */
export function kafkaChannel(context: AppContext): Promise<ChannelModule> {
  return brokerChannel(context, {
    name: 'kafka',
    envPrefix: 'KAFKA',
    config: context.config.brokers.kafka,
    loadDriver: async (settings) => {
      const { KafkaDriver } = await import('./kafka-driver.ts');
      return new KafkaDriver(settings, context.log.child({ channel: 'kafka' }));
    },
  });
}
