import { Admin, Consumer, stringDeserializers, type BaseOptions, type Message } from '@platformatic/kafka';
import { eventually } from '../helpers/pombo-harness.ts';

export const KAFKA_BROKERS = '127.0.0.1:9092';

export type KafkaRecord = Message<string, string, string, string>;

/** Whether the test Kafka (scripts/services/kafka.sh) answers, on its plaintext listener unless told how to reach it. */
export async function kafkaAvailable(client: BaseOptions = { clientId: 'pombo-test', bootstrapBrokers: [KAFKA_BROKERS] }): Promise<boolean> {
  const admin = new Admin({ ...client, retries: 0, connectTimeout: 1000 });
  try {
    await admin.metadata({ topics: [] });
    return true;
  } catch {
    return false;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** The topics that exist among `names`. */
export async function existingTopics(names: readonly string[]): Promise<string[]> {
  const admin = new Admin({ clientId: 'pombo-test', bootstrapBrokers: [KAFKA_BROKERS] });
  try {
    const all = await admin.listTopics();
    return names.filter((name) => all.includes(name));
  } finally {
    await admin.close();
  }
}

export async function createTopic(topic: string): Promise<void> {
  const admin = new Admin({ clientId: 'pombo-test', bootstrapBrokers: [KAFKA_BROKERS] });
  try {
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  } finally {
    await admin.close();
  }
}

/** How many partitions `topic` has. */
export async function partitionsOf(topic: string): Promise<number | undefined> {
  const admin = new Admin({ clientId: 'pombo-test', bootstrapBrokers: [KAFKA_BROKERS] });
  try {
    return (await admin.metadata({ topics: [topic] })).topics.get(topic)?.partitionsCount;
  } finally {
    await admin.close();
  }
}

/** Deletes a consumer group, first removing its members (a consumer that was stopped without leaving stays one until its session expires). */
export async function deleteGroup(groupId: string): Promise<void> {
  const admin = new Admin({ clientId: 'pombo-test', bootstrapBrokers: [KAFKA_BROKERS] });
  try {
    // Both fail when the group does not exist (or has no members): nothing to delete then.
    await admin.removeMembersFromConsumerGroup({ groupId }).catch(() => undefined);
    await admin.deleteGroups({ groups: [groupId] }).catch(() => undefined);
  } finally {
    await admin.close();
  }
}

/** A consumer in its own group reading a topic from its beginning, as a user's would; `records` grows as they arrive. */
export async function followTopic(topic: string, timeoutMs = 30_000): Promise<{ records: KafkaRecord[]; close(): Promise<void> }> {
  await eventually(async () => (await existingTopics([topic])).length === 1, `topic ${topic} to exist`, timeoutMs, 200);
  const consumer = new Consumer({
    clientId: 'pombo-test',
    groupId: `pombo-test-${topic}-${Date.now()}`,
    bootstrapBrokers: [KAFKA_BROKERS],
    deserializers: stringDeserializers,
    // The client must ride out a broker restart (outage tests) rather than give up.
    retries: 1000,
    retryDelay: 250,
  });
  const records: KafkaRecord[] = [];
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 200 });
  stream.on('data', (record: KafkaRecord) => records.push(record));
  stream.on('error', () => undefined);
  return {
    records,
    async close() {
      await stream.close().catch(() => undefined);
      await consumer.close().catch(() => undefined);
    },
  };
}

/** Reads a topic from its beginning until `done` holds for what was read (waits for the topic to exist). */
export async function readTopic(topic: string, done: (records: KafkaRecord[]) => boolean, timeoutMs = 30_000): Promise<KafkaRecord[]> {
  const follower = await followTopic(topic, timeoutMs);
  try {
    await eventually(() => done(follower.records), `records on ${topic} (got ${follower.records.length})`, timeoutMs, 50);
    return follower.records;
  } finally {
    await follower.close();
  }
}

/** The JSON value of each record. */
export const valuesOf = (records: readonly KafkaRecord[]): any[] => records.map((record) => JSON.parse(record.value));
