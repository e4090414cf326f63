import { test } from 'node:test';
import type { TcpProxy } from '../helpers/tcp-proxy.ts';
import { behindProxy, killLosesNothing, outageLosesNothing, type LossSubject } from './loss-scenarios.ts';
import { cleanupRabbit, consumeQueue, rabbitmqRequired, rabbitNames, RABBITMQ_PORT } from './rabbitmq-helpers.ts';

const rabbit = await rabbitmqRequired();

/**
 * Pombo reaches RabbitMQ through a proxy the test cuts. The consumer, connected directly, reads the
 * durable queue Pombo declares for the instance's MESSAGES_UPSERT (it holds events published before
 * the consumer started).
 */
const subjectThrough = (proxy: TcpProxy): LossSubject => {
  const names = rabbitNames();
  return {
    channel: 'rabbitmq',
    env: {
      RABBITMQ_ENABLED: 'true',
      RABBITMQ_URI: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
      RABBITMQ_EXCHANGE_NAME: names.exchange,
      RABBITMQ_PREFIX_KEY: names.prefix,
      RABBITMQ_RETRY_MAX_DELAY_MS: '300',
    },
    config: { enabled: true, events: ['MESSAGES_UPSERT'] },
    ordered: true,
    async consume(instance) {
      const consumer = await consumeQueue(`${names.prefix}.${instance}.messages-upsert`);
      return {
        numbers: async () => consumer.received.filter((item) => item.body.event === 'messages.upsert').map((item) => item.body.data.n),
        async close() {
          await consumer.close();
          await cleanupRabbit(names.exchange, names.prefix, [instance]);
        },
      };
    },
  };
};

test('a RabbitMQ outage while events flow loses nothing; the last copies arrive in order', rabbit, (t) =>
  behindProxy(RABBITMQ_PORT, (proxy, cut) => outageLosesNothing(t, subjectThrough(proxy), cut)));

test('kill -9 of Pombo while it catches up a RabbitMQ backlog loses nothing', rabbit, (t) =>
  behindProxy(RABBITMQ_PORT, (proxy, cut) => killLosesNothing(t, subjectThrough(proxy), cut)));
