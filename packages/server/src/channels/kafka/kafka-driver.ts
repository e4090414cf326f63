import { Admin, Producer, ProduceAcks, type BaseOptions } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { reasonOf } from '../../core/error-reason.ts';
import { InTurn } from '../../core/in-turn.ts';
import type { SendContext } from '../../delivery/destination.ts';
import { DELIVERED, retry, type Outcome } from '../../delivery/outcome.ts';
import { mayWrite, WITHDRAWN_REASON, type BrokerDriver, type BrokerMessage, type BrokerTarget } from '../broker/broker-channel.ts';
import { ConnectionKeeper } from '../broker/connection-keeper.ts';
import type { KafkaSettings } from '../../config/kafka-settings.ts';
import { KafkaRecords, type KafkaRecord, type SizedRecord } from './kafka-records.ts';
import { KafkaSendQueue, NotSentBehindFailure } from './kafka-send-queue.ts';
import { KafkaTopics } from './kafka-topics.ts';

/** Keys, values and headers are handed over as bytes (KafkaRecords): the producer's default, no serializers. */
type KafkaProducer = Producer<Buffer, Buffer, Buffer, Buffer>;

interface Session {
  readonly producer: KafkaProducer;
  /** Every send of the session goes through it: one request at a time (see KafkaSendQueue). */
  readonly sends: KafkaSendQueue;
  readonly admin: Admin | undefined;
  /** Present when KAFKA_AUTO_CREATE_TOPICS=true. */
  readonly topics: KafkaTopics | undefined;
}

/** Attempts of one request inside the client before the dispatcher takes over (with its own backoff). */
const CLIENT_RETRIES = 3;
const CLIENT_RETRY_DELAY_MS = 250;

const unknownTopic = (error: unknown): string | undefined => /^Unknown topic (.+)\.$/.exec((error as Error)?.message ?? '')?.[1];

interface Chunk {
  readonly records: KafkaRecord[];
  readonly bytes: number;
}

/** A batch in the send queue (its chunks, each resolving once acknowledged), or why it could not be queued. */
type Queued = { readonly session: Session; readonly sends: ReadonlyArray<{ size: number; done: Promise<void> }> } | { readonly refused: string };

/** Splits records, in order, into sends whose total size stays within the broker's limit for one batch. */
function chunks(records: readonly SizedRecord[], maxBytes: number): Chunk[] {
  const result: Chunk[] = [];
  let current: KafkaRecord[] = [];
  let bytes = 0;
  for (const { record, size } of records) {
    if (current.length && bytes + size > maxBytes) {
      result.push({ records: current, bytes });
      current = [];
      bytes = 0;
    }
    current.push(record);
    bytes += size;
  }
  if (current.length) result.push({ records: current, bytes });
  return result;
}

/**
 * Publishes with an idempotent producer (acks from all in-sync replicas, so a retried send is
 * never written twice within a producer session), one request at a time (KafkaSendQueue); a batch
 * is answered `delivered` once the brokers acknowledged it. Pombo never consumes its own topics.
 */
export class KafkaDriver implements BrokerDriver {
  private readonly keeper: ConnectionKeeper<Session>;
  /** Batches queue one after another, in the order they were handed over. */
  private readonly queueing = new InTurn();
  private readonly records: KafkaRecords;

  constructor(
    private readonly settings: KafkaSettings,
    log: Logger,
    /** Messages in one request at most: the channel's batch. */
    private readonly requestMessages: number,
  ) {
    this.records = new KafkaRecords(settings.prefix, settings.maxMessageBytes);
    this.keeper = new ConnectionKeeper({
      target: `Kafka at ${settings.brokers.join(',')}`,
      connect: () => this.open(),
      disconnect: (session) => close(session),
      log,
    });
  }

  start(): void {
    this.keeper.start();
  }

  connection() {
    return this.keeper.connection();
  }

  private clientOptions(): BaseOptions {
    const { settings } = this;
    return {
      clientId: settings.clientId,
      // Copies: the configuration is frozen, and a client may write on the options it is given.
      bootstrapBrokers: [...settings.brokers],
      connectTimeout: settings.connectTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      timeout: settings.requestTimeoutMs,
      retries: CLIENT_RETRIES,
      retryDelay: CLIENT_RETRY_DELAY_MS,
      ...(settings.sasl ? { sasl: { ...settings.sasl } } : {}),
      ...(settings.tls ? { tls: { ...settings.tls } } : {}),
    };
  }

  private async open(): Promise<Session> {
    const producer: KafkaProducer = new Producer({
      ...this.clientOptions(),
      idempotent: true,
      acks: ProduceAcks.ALL,
      // KAFKA_AUTO_CREATE_TOPICS=true: Pombo creates topics with its partitions and replicas, never the
      // broker with its defaults. false (Evolution API's setting): the broker creates a missing topic on
      // first use if its auto.create.topics.enable allows (as it did for Evolution API's producer).
      autocreateTopics: !this.settings.autoCreateTopics,
    });
    try {
      // Proves the brokers answer and accept the credentials before the keeper reports `connected`.
      await producer.initIdempotentProducer({});
    } catch (error) {
      await producer.close().catch(() => undefined);
      throw new Error(reasonOf(error));
    }
    const admin = this.settings.autoCreateTopics ? new Admin(this.clientOptions()) : undefined;
    const sends = new KafkaSendQueue(producer, { maxBytes: this.settings.maxMessageBytes, maxMessages: this.requestMessages });
    return { producer, sends, admin, topics: admin && new KafkaTopics(admin, this.settings) };
  }

  async publish(batch: readonly BrokerMessage[], destination: BrokerTarget, sending?: SendContext): Promise<Outcome[]> {
    const records = batch.map((message) => this.records.recordOf(message, destination.ordering));
    // Batches join the send queue in the order they came: a pipelined lane hands over its next batch
    // before this one is answered, and a batch that waits for its topic's creation must not be overtaken.
    const ready = await this.queueing.run(() => this.queue(records, destination, sending));
    if ('refused' in ready) return batch.map(() => retry(ready.refused));
    const { session, sends } = ready;
    const settled = await Promise.allSettled(sends.map(({ done }) => done));
    const outcomes: Outcome[] = [];
    for (const [index, result] of settled.entries()) {
      if (result.status === 'rejected') {
        const reason = this.failed(session, result.reason);
        while (outcomes.length < batch.length) outcomes.push(retry(reason));
        break;
      }
      for (let n = 0; n < (sends[index]?.size ?? 0); n++) outcomes.push(DELIVERED);
    }
    return outcomes;
  }

  /** Makes the session and the batch's topics ready, then queues its chunks (all at once, in order). */
  private async queue(records: readonly SizedRecord[], destination: BrokerTarget, sending?: SendContext): Promise<Queued> {
    let session: Session;
    try {
      session = await this.keeper.get();
      await session.topics?.ensure(records.map(({ record }) => record.topic));
    } catch (error) {
      return { refused: `Kafka at ${this.settings.brokers.join(',')}: ${reasonOf(error)}` };
    }
    // The batches before it, the connection and the topics were awaited: the lease is asked again.
    if (!mayWrite(sending)) return { refused: WITHDRAWN_REASON };
    // A pipelined batch waits in the queue, ready, while the one before it is in flight.
    const sends = chunks(records, this.settings.maxMessageBytes).map((chunk) => ({
      size: chunk.records.length,
      done: session.sends.send(chunk.records, chunk.bytes, destination.id),
    }));
    return { session, sends };
  }

  /** Why a send failed, for its outcome; a failure that may leave the idempotent sequence numbers out of step ends the producer session. */
  private failed(session: Session, error: unknown): string {
    if (error instanceof NotSentBehindFailure) return `Kafka: not sent, as a request before it failed: ${reasonOf(error.failure)}`;
    const missing = unknownTopic(error);
    // With KAFKA_AUTO_CREATE_TOPICS=true the topic was created, then deleted: a new session creates it again.
    if (missing && !this.settings.autoCreateTopics) {
      return `Kafka topic "${missing}" does not exist and the brokers do not create topics (auto.create.topics.enable=false) while KAFKA_AUTO_CREATE_TOPICS=false: create it, enable auto.create.topics.enable on the brokers, or set KAFKA_AUTO_CREATE_TOPICS=true`;
    }
    this.keeper.lost(session, reasonOf(error));
    return `Kafka did not acknowledge: ${reasonOf(error)}`;
  }

  async close(): Promise<void> {
    await this.keeper.close();
  }
}

async function close(session: Session): Promise<void> {
  await Promise.allSettled([session.producer.close(), session.admin?.close()]);
}
