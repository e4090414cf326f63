import { Admin, Producer, ProduceAcks, stringSerializers } from '@platformatic/kafka';
import type { BrokerBench } from './broker-bench.ts';

const BROKERS = process.env.BENCH_KAFKA_BROKERS ?? '127.0.0.1:9092';
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
    const producer = new Producer({ clientId: 'pombo-bench', bootstrapBrokers: [BROKERS], serializers: stringSerializers, idempotent: true, acks: ProduceAcks.ALL, retries: 3 });
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
