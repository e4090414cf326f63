import { createServer, connect, type Socket } from 'node:net';
import { KAFKA_BROKERS } from './kafka-topic-reader.ts';

/** Kafka's API key of a Metadata request; from version 9 on it is a "flexible" request (compact fields, tagged fields). */
const METADATA = 3;
const FIRST_FLEXIBLE_METADATA = 9;

/**
 * A bootstrap address in front of the test Kafka that reads each Metadata request's
 * `allow_auto_topic_creation` flag (the client's consent to the broker creating a missing topic,
 * which it does when its `auto.create.topics.enable` is on, the default), and with `refuse` clears
 * it: the broker then answers as one with `auto.create.topics.enable=false` would, "unknown topic".
 * Only bootstrap requests pass here: the client sends its Metadata requests to a bootstrap broker
 * first, and its produce requests to the address the broker advertises (Kafka's own).
 */
export interface KafkaMetadataProxy {
  /** `host:port` to give the client as its only bootstrap broker. */
  readonly address: string;
  /** The flag of every Metadata request naming topics, as the client sent it. */
  readonly autoCreationAsked: boolean[];
  close(): Promise<void>;
}

function readUVarInt(frame: Buffer, at: number): { value: number; next: number } {
  let value = 0;
  for (let shift = 0, next = at; ; shift += 7) {
    const byte = frame.readUInt8(next++);
    value |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) return { value, next };
  }
}

/** Skips a tagged-fields section. */
function skipTaggedFields(frame: Buffer, at: number): number {
  let { value: count, next } = readUVarInt(frame, at);
  for (; count > 0; count--) {
    next = readUVarInt(frame, next).next;
    const size = readUVarInt(frame, next);
    next = size.next + size.value;
  }
  return next;
}

/** Where the flag is in a flexible Metadata request (`frame` without its length prefix), or undefined when it names no topics. */
function autoCreationFlagAt(frame: Buffer): number | undefined {
  const clientIdLength = frame.readInt16BE(8);
  let at = skipTaggedFields(frame, 10 + Math.max(clientIdLength, 0));
  const topics = readUVarInt(frame, at);
  at = topics.next;
  if (topics.value <= 1) return undefined;
  for (let n = 1; n < topics.value; n++) {
    const name = readUVarInt(frame, at + 16);
    at = skipTaggedFields(frame, name.next + Math.max(name.value - 1, 0));
  }
  return at;
}

/** Reads (and with `refuse`, clears) the flag of the Metadata requests in `frame`. */
function inspect(frame: Buffer, refuse: boolean, asked: boolean[]): void {
  if (frame.readInt16BE(0) !== METADATA) return;
  if (frame.readInt16BE(2) < FIRST_FLEXIBLE_METADATA) throw new Error('the Kafka client sent a Metadata request older than version 9');
  const at = autoCreationFlagAt(frame);
  if (at === undefined) return;
  asked.push(frame.readUInt8(at) === 1);
  if (refuse) frame.writeUInt8(0, at);
}

export async function startKafkaMetadataProxy(options: { refuse: boolean }): Promise<KafkaMetadataProxy> {
  const [host = '127.0.0.1', port] = KAFKA_BROKERS.split(':');
  const sockets = new Set<Socket>();
  const autoCreationAsked: boolean[] = [];
  const server = createServer((client) => {
    const upstream = connect(Number(port), host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => (sockets.delete(socket), client.destroy(), upstream.destroy()));
      socket.on('error', () => socket.destroy());
    }
    upstream.pipe(client);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const size = pending.readInt32BE(0);
        inspect(pending.subarray(4, 4 + size), options.refuse, autoCreationAsked);
        upstream.write(pending.subarray(0, 4 + size));
        pending = pending.subarray(4 + size);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    address: `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    autoCreationAsked,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
