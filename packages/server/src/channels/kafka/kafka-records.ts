import type { MessageToProduce } from '@platformatic/kafka';
import { msOfIso } from '../../core/iso-time.ts';
import { referenceTo } from '../../core/event-reference.ts';
import type { Ordering } from '../../delivery/destination.ts';
import { messageHeaders, type BrokerMessage } from '../broker/broker-channel.ts';
import { keyOf, topicOf } from './kafka-topics.ts';

/** A record as the producer takes it by default: key, value and headers as bytes (no serializers). */
export type KafkaRecord = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;

/** A record and its size as the broker's limit counts it (key, value, header names and values). */
export interface SizedRecord {
  readonly record: KafkaRecord;
  readonly size: number;
}

/** The one header whose value differs for every message: never kept. */
const UNIQUE_HEADER = 'event-id';

/** Texts kept as bytes at most; past it the cache starts again (instance names and ids, event names, keys). */
const MAX_KEPT = 10_000;

/**
 * The envelope's bytes with Evolution API's Kafka `timestamp` (ms; here the event's own time) as its
 * last member: what `withFields` gives, encoded straight into one buffer, where adding the member to
 * the text and then encoding it copied the envelope twice more (a kilobyte of garbage per message).
 */
export function withTimestamp(envelope: string, ms: number): Buffer {
  const tail = `,"timestamp":${JSON.stringify(ms)}}`;
  const envelopeBytes = Buffer.byteLength(envelope);
  const value = Buffer.allocUnsafe(envelopeBytes - 1 + tail.length);
  // All but the closing brace: one byte, the last, so no character is cut.
  value.write(envelope, 0, envelopeBytes - 1);
  value.write(tail, envelopeBytes - 1, 'latin1');
  return value;
}

/**
 * Turns broker messages into Kafka records, as bytes. Most of a message's headers and its key repeat
 * from one message to the next (header names, the instance's name and id, the event's names): they are
 * encoded once and the same bytes reused, where string serializers encoded ten small buffers per
 * message, which was a third of the client's work per message (the producer only reads the bytes it
 * is given). The value is encoded here too, so its size is known without measuring the text first.
 */
export class KafkaRecords {
  private readonly kept = new Map<string, Buffer>();

  constructor(
    private readonly prefix: string,
    private readonly maxMessageBytes: number,
  ) {}

  recordOf(message: BrokerMessage, ordering: Ordering): SizedRecord {
    const key = this.bytes(keyOf(message, ordering));
    const headers = new Map<Buffer, Buffer>();
    let overhead = key.length;
    const texts = messageHeaders(message.event);
    for (const name in texts) {
      const text = texts[name] as string;
      const value = name === UNIQUE_HEADER ? Buffer.from(text) : this.bytes(text);
      const nameBytes = this.bytes(name);
      headers.set(nameBytes, value);
      overhead += nameBytes.length + value.length;
    }
    let value = withTimestamp(message.body, msOfIso(message.event.createdAt));
    if (overhead + value.length > this.maxMessageBytes) value = Buffer.from(JSON.stringify(referenceTo(message.body, overhead + value.length)));
    return { record: { topic: topicOf(this.prefix, message), key, value, headers }, size: overhead + value.length };
  }

  /** The text's UTF-8 bytes, encoded once while kept. */
  private bytes(text: string): Buffer {
    let bytes = this.kept.get(text);
    if (!bytes) {
      if (this.kept.size >= MAX_KEPT) this.kept.clear();
      bytes = Buffer.from(text);
      this.kept.set(text, bytes);
    }
    return bytes;
  }
}
