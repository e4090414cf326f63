import { Admin, Producer, ProduceAcks, stringSerializers } from '@platformatic/kafka';
import type { BrokerBench } from './broker-bench.ts';

const BROKERS = process.env.BENCH_KAFKA_BROKERS ?? '127.0.0.1:9092';
/**
 * BENCH_KAFKA_RAW=bytes: the raw side hands the producer bytes (the payload's buffer as it is, the key
 * and headers encoded per message) instead of strings through its string serializers, as Pombo does
 * since it encodes its records itself: the baseline a user holding bytes would write.
 */
const RAW_BYTES = process.env.BENCH_KAFKA_RAW === 'bytes';
/** Pombo's broker batch: the raw side sends the same number of messages per request. */
const SEND_SIZE = 500;
const prefixOf = (run: string) => `bench${run}`;
const topicOf = (run: string, instance: string) => `${prefixOf(run)}.${instance}.messages-upsert`;

async function withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: 'pombo-bench', bootstrapBrokers: [BROKERS], retries: 0, connectTimeout: 2000 });
  try {
    return await use(admin);
  } finally {
    await admin.close();
  }
}

/** Kafka: an idempotent producer (acks from all in-sync replicas), keyed by instance, 500 messages per send, in order. */
export const kafkaBench: BrokerBench = {
  name: 'Kafka',
  channel: 'kafka',
  available: () => withAdmin((admin) => admin.metadata({ topics: [] })).then(() => true, () => false),
  env: (run) => ({ KAFKA_ENABLED: 'true', KAFKA_BROKERS: BROKERS, KAFKA_TOPIC_PREFIX: prefixOf(run), KAFKA_AUTO_CREATE_TOPICS: 'true' }),
  async publishRaw(run, instance, payloads) {
    const topic = topicOf(run, instance);
    await withAdmin((admin) => admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 })).catch(() => undefined);
    const options = { clientId: 'pombo-bench', bootstrapBrokers: [BROKERS], idempotent: true, acks: ProduceAcks.ALL, retries: 3 };
    if (RAW_BYTES) {
      const producer = new Producer(options);
      try {
        for (let start = 0; start < payloads.length; start += SEND_SIZE) {
          const messages = payloads.slice(start, start + SEND_SIZE).map((payload) => ({
            topic,
            key: Buffer.from(instance),
            value: payload.body,
            headers: new Map(Object.entries(payload.headers).map(([name, value]) => [Buffer.from(name), Buffer.from(value)])),
          }));
          await producer.send({ messages });
        }
      } finally {
        await producer.close();
      }
      return;
    }
    const producer = new Producer({ ...options, serializers: stringSerializers });
    try {
      for (let start = 0; start < payloads.length; start += SEND_SIZE) {
        const messages = payloads.slice(start, start + SEND_SIZE).map((payload) => ({
          topic,
          key: instance,
          value: payload.body.toString(),
          headers: { ...payload.headers },
        }));
        await producer.send({ messages });
      }
    } finally {
      await producer.close();
    }
  },
  async cleanup(run, instance) {
    await withAdmin((admin) => admin.deleteTopics({ topics: [topicOf(run, instance)] })).catch(() => undefined);
  },
};
