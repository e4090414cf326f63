import type { AppContext } from '../../app-context.ts';
import { optionalBoolean, type Obj } from '../../core/validate.ts';
import { brokerChannel } from '../broker/broker-channel.ts';
import type { ChannelModule } from '../channel.ts';

/**
 * Amazon SQS (seed 001 section 4) and SQS-compatible servers: the `sqs` channel on the shared broker
 * machinery. @aws-sdk/client-sqs is imported only when SQS_ENABLED=true. Global toggles are read
 * under Evolution API's `SQS_GLOBAL_<EVENT>` and under `SQS_EVENTS_<EVENT>` like the other brokers.
 */
export function sqsChannel(context: AppContext): Promise<ChannelModule> {
  return brokerChannel(context, {
    name: 'sqs',
    envPrefix: 'SQS',
    config: context.config.brokers.sqs,
    loadDriver: async (settings) => {
      const { SqsDriver } = await import('./sqs-driver.ts');
      return new SqsDriver(settings);
    },
    extraSchema: { fifo: { type: 'boolean', description: 'Publish to FIFO queues (ordered, deduplicated by event id).' } },
    parseExtra: (config: Obj, path: string) => {
      const fifo = optionalBoolean(config, 'fifo', `${path}.fifo`);
      return fifo === undefined ? {} : { fifo };
    },
    describeExtra: (extra) => (extra.fifo === undefined ? {} : { fifo: extra.fifo }),
  });
}
