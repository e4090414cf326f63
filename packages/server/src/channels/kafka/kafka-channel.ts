import type { AppContext } from '../../app-context.ts';
import { brokerChannel } from '../broker/broker-channel.ts';
import { ThreadedDriver } from '../broker/driver-thread.ts';
import type { ChannelModule } from '../channel.ts';

/**
 * Events per batch, and per request at most. A lane's next batch is handed over while the one before
 * it is in flight (`pipeline`): it is built and waits in the driver's send queue, so the producer
 * sends it the moment the broker answered, while Pombo settles the batch before it.
 */
const BATCH = 500;
const PIPELINE = 2;

/**
 * Apache Kafka (seed 001 section 5): the `kafka` channel on the shared broker machinery.
 * @platformatic/kafka is imported only when KAFKA_ENABLED=true.
 */
export function kafkaChannel(context: AppContext): Promise<ChannelModule> {
  return brokerChannel(context, {
    name: 'kafka',
    envPrefix: 'KAFKA',
    config: context.config.brokers.kafka,
    maxBatch: BATCH,
    pipeline: PIPELINE,
    loadDriver: async (settings) => new ThreadedDriver({ driver: 'kafka', settings, level: context.log.level, batch: BATCH }, context.log),
  });
}
