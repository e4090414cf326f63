import { connect, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { EVENT_KEYS, eventName } from '../../src/core/event-names.ts';
import { eventually, requireService, uniqueName } from '../helpers/pombo-harness.ts';

export const RABBITMQ_HOST = '127.0.0.1';
export const RABBITMQ_PORT = 5672;
export const RABBITMQ_URI = `amqp://guest:guest@${RABBITMQ_HOST}:${RABBITMQ_PORT}`;

/** Test options: skip when RabbitMQ is not reachable (fail under CI=true). */
export async function rabbitmqRequired(): Promise<ReturnType<typeof requireService>> {
  const reachable = await connect(RABBITMQ_URI).then(
    (connection) => connection.close().then(() => true),
    () => false,
  );
  return requireService(reachable, 'RabbitMQ', `start rabbitmq-server on ${RABBITMQ_HOST}:${RABBITMQ_PORT} (guest/guest)`);
}

/** A unique exchange and routing-key prefix per test, so tests never see each other's messages. */
export function rabbitNames(): { exchange: string; prefix: string } {
  const id = uniqueName('t').replace('-', '');
  return { exchange: `pombo-test-${id}`, prefix: id };
}

export interface Received {
  readonly routingKey: string;
  readonly message: ConsumeMessage;
  readonly body: Record<string, any>;
  /** When it arrived (ms since epoch). */
  readonly at: number;
}

/** A consumer on its own exclusive queue bound to `pattern`, as the seed's example does. */
export async function consume(exchange: string, pattern: string): Promise<{ received: Received[]; close(): Promise<void> }> {
  const connection = await connect(RABBITMQ_URI);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const queue = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(queue.queue, exchange, pattern);
  const received: Received[] = [];
  await channel.consume(
    queue.queue,
    (message) => {
      if (message) received.push({ routingKey: message.fields.routingKey, message, body: JSON.parse(message.content.toString()), at: Date.now() });
    },
    { noAck: true },
  );
  return { received, close: () => connection.close() };
}

/**
 * A consumer of the durable queue Pombo declares for an instance's event (what a consumer that must
 * not miss anything reads, see docs/brokers.md); waits for Pombo to declare it.
 */
export async function consumeQueue(queue: string): Promise<{ received: Received[]; close(): Promise<void> }> {
  await eventually(async () => (await queueDepth(queue)) !== undefined, `queue ${queue} to exist`);
  const connection = await connect(RABBITMQ_URI);
  const channel = await connection.createChannel();
  const received: Received[] = [];
  await channel.consume(queue, (message) => {
    if (message) received.push({ routingKey: message.fields.routingKey, message, body: JSON.parse(message.content.toString()), at: Date.now() });
  }, { noAck: true });
  return { received, close: () => connection.close() };
}

/** A short-lived connection for checks and cleanup; a failed check closes only its own channel. */
export async function withRabbit<T>(use: (connection: ChannelModel) => Promise<T>): Promise<T> {
  const connection = await connect(RABBITMQ_URI);
  try {
    return await use(connection);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** The number of messages waiting in a queue, or undefined when it does not exist. */
export async function queueDepth(name: string): Promise<number | undefined> {
  return withRabbit(async (connection) => {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return channel.checkQueue(name).then(
      (queue) => queue.messageCount,
      () => undefined,
    );
  });
}

/** Deletes the queues Pombo may have declared for these instances, and the exchange unless it is shared (`evolution`). */
export async function cleanupRabbit(exchange: string, prefix: string, instances: string[], { keepExchange = false } = {}): Promise<void> {
  await withRabbit(async (connection) => {
    const channel = await connection.createChannel();
    for (const instance of instances) {
      for (const key of EVENT_KEYS) await channel.deleteQueue(`${prefix}.${instance}.${eventName(key).kebab}`);
    }
    if (!keepExchange) await channel.deleteExchange(exchange);
  });
}
