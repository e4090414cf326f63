import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { requireService, uniqueName } from '../helpers/pombo-harness.ts';

export const NATS_HOST = '127.0.0.1';
export const NATS_PORT = 4222;
export const NATS_URI = `nats://${NATS_HOST}:${NATS_PORT}`;

/** Test options: skip when NATS with JetStream is not reachable (fail under CI=true). */
export async function natsRequired(): Promise<ReturnType<typeof requireService>> {
  let reachable = false;
  try {
    const nc = await connect({ servers: NATS_URI, timeout: 2000 });
    reachable = await jetstreamManager(nc).then(
      () => true,
      () => false,
    );
    await nc.close();
  } catch {
    reachable = false;
  }
  return requireService(reachable, 'NATS with JetStream', `start nats-server -js on ${NATS_HOST}:${NATS_PORT}`);
}

/** A unique subject prefix and stream name per test. */
export function natsNames(): { prefix: string; stream: string } {
  const id = uniqueName('t').replace('-', '');
  return { prefix: id, stream: `POMBO_TEST_${id}` };
}

export interface NatsReceived {
  readonly subject: string;
  readonly headers: Record<string, string>;
  readonly body: Record<string, any>;
}

function toReceived(message: { subject: string; headers?: { keys(): string[]; get(key: string): string }; string(): string }): NatsReceived {
  const headers: Record<string, string> = {};
  for (const key of message.headers?.keys() ?? []) headers[key] = message.headers?.get(key) ?? '';
  return { subject: message.subject, headers, body: JSON.parse(message.string()) };
}

/** A core NATS subscription (what a plain NATS consumer sees). */
export async function subscribe(subject: string): Promise<{ received: NatsReceived[]; close(): Promise<void> }> {
  const nc = await connect({ servers: NATS_URI });
  const received: NatsReceived[] = [];
  const subscription = nc.subscribe(subject, {
    callback: (error, message) => {
      if (!error) received.push(toReceived(message));
    },
  });
  await nc.flush();
  return {
    received,
    async close() {
      subscription.unsubscribe();
      await nc.close();
    },
  };
}

/** Reads everything the stream holds, from its start, as a JetStream consumer would (ordered consumer). */
export async function readStream(nc: NatsConnection, stream: string): Promise<NatsReceived[]> {
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(stream)).state.messages;
  const consumer = await jetstream(nc).consumers.get(stream);
  const received: NatsReceived[] = [];
  while (received.length < total) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, total - received.length), expires: 2000 });
    for await (const message of batch) received.push(toReceived(message));
  }
  return received;
}

/** Runs `use` with a connection of its own. */
export async function withNats<T>(use: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: NATS_URI });
  try {
    return await use(nc);
  } finally {
    await nc.close();
  }
}

export async function deleteStreams(...names: string[]): Promise<void> {
  await withNats(async (nc) => {
    const jsm = await jetstreamManager(nc);
    for (const name of names) await jsm.streams.delete(name).catch(() => undefined);
  });
}
