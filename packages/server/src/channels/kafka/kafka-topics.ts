import type { Admin } from '@platformatic/kafka';
import { eventName } from '../../core/event-names.ts';
import { chatOfEvent, type Ordering } from '../../delivery/destination.ts';
import type { BrokerMessage } from '../broker/broker-channel.ts';
import type { KafkaSettings } from '../../config/kafka-settings.ts';

/** Kafka's error code for a topic that exists already. */
const TOPIC_ALREADY_EXISTS = 36;

/** `{prefix}.{instance}.{event-kebab}` (seed 001), or `{prefix}.global.{event-kebab}` in global mode. */
export function topicOf(prefix: string, message: BrokerMessage): string {
  const owner = message.scope === 'global' ? 'global' : message.event.instance;
  return `${prefix}.${owner}.${eventName(message.event.event).kebab}`;
}

/** The partition key: the instance, so its events stay in order; `instance/chat` when ordering follows chats. */
export function keyOf(message: BrokerMessage, ordering: Ordering): string {
  const chat = ordering === 'chat' ? chatOfEvent(message.event) : undefined;
  return chat === undefined ? message.event.instance : `${message.event.instance}/${chat}`;
}

/**
 * Creates the topics a publish needs when KAFKA_AUTO_CREATE_TOPICS=true, once each per connection,
 * with KAFKA_NUM_PARTITIONS and KAFKA_REPLICATION_FACTOR (not the broker's defaults, which the
 * broker-side auto-creation would use: with KAFKA_AUTO_CREATE_TOPICS=false that is left to the broker).
 */
export class KafkaTopics {
  private readonly created = new Map<string, Promise<void>>();
  /** Topics known to exist: the common case costs a set lookup per publish. */
  private readonly done = new Set<string>();

  constructor(
    private readonly admin: Admin,
    private readonly settings: KafkaSettings,
  ) {}

  async ensure(topics: readonly string[]): Promise<void> {
    const pending = [...new Set(topics)].filter((topic) => !this.done.has(topic));
    if (pending.length) await Promise.all(pending.map((topic) => this.ensureOne(topic)));
  }

  private ensureOne(topic: string): Promise<void> {
    let pending = this.created.get(topic);
    if (!pending) {
      pending = this.create(topic);
      this.created.set(topic, pending);
      pending.then(
        () => this.done.add(topic),
        () => this.created.delete(topic),
      );
    }
    return pending;
  }

  private async create(topic: string): Promise<void> {
    try {
      await this.admin.createTopics({ topics: [topic], partitions: this.settings.partitions, replicas: this.settings.replicationFactor });
    } catch (error) {
      const exists = (error as { findBy?: (key: string, value: unknown) => unknown }).findBy?.('apiCode', TOPIC_ALREADY_EXISTS);
      if (!exists) throw error;
    }
  }
}
