import { connect } from 'amqplib';
import type { BrokerBench } from './broker-bench.ts';

const URI = process.env.BENCH_RABBITMQ_URI ?? 'amqp://guest:guest@127.0.0.1:5672';
const names = (run: string) => ({ exchange: `pombo-bench-${run}`, prefix: `bench${run}` });

/** RabbitMQ: a confirm channel publishing persistent messages to the durable queue Pombo declares. */
export const rabbitmqBench: BrokerBench = {
  name: 'RabbitMQ',
  channel: 'rabbitmq',
  available: () => connect(URI).then((connection) => connection.close().then(() => true), () => false),
  env: (run) => ({
    RABBITMQ_ENABLED: 'true',
    RABBITMQ_URI: URI,
    RABBITMQ_EXCHANGE_NAME: names(run).exchange,
    RABBITMQ_PREFIX_KEY: names(run).prefix,
  }),
  async publishRaw(run, instance, payloads) {
    const { exchange, prefix } = names(run);
    const routingKey = `${prefix}.${instance}.messages-upsert`;
    const connection = await connect(`${URI}?frameMax=8192&heartbeat=30`);
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertExchange(exchange, 'topic', { durable: true });
      await channel.assertQueue(routingKey, { durable: true });
      await channel.bindQueue(routingKey, exchange, routingKey);
      const confirms: Promise<void>[] = [];
      for (const payload of payloads) {
        let accepted = true;
        confirms.push(
          new Promise((resolve, reject) => {
            accepted = channel.publish(
              exchange,
              routingKey,
              payload.body,
              { persistent: true, messageId: payload.id, contentType: 'application/json', headers: payload.headers },
              (error: unknown) => (error ? reject(error) : resolve()),
            );
          }),
        );
        if (!accepted) await new Promise((resolve) => channel.once('drain', resolve));
      }
      await Promise.all(confirms);
    } finally {
      await connection.close();
    }
  },
  async cleanup(run, instance) {
    const { exchange, prefix } = names(run);
    const connection = await connect(URI);
    const channel = await connection.createChannel();
    await channel.deleteQueue(`${prefix}.${instance}.messages-upsert`);
    await channel.deleteExchange(exchange);
    await connection.close();
  },
};
