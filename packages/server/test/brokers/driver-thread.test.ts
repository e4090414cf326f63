import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { WITHDRAWN_REASON, type BrokerMessage, type BrokerTarget } from '../../src/channels/broker/broker-channel.ts';
import { ThreadedDriver } from '../../src/channels/broker/driver-thread.ts';
import type { KafkaSettings } from '../../src/config/kafka-settings.ts';
import { leaseContext, type SendContext } from '../../src/delivery/destination.ts';
import type { Outcome } from '../../src/delivery/outcome.ts';
import { LoggedEvent } from '../../src/store/logged-event.ts';
import { eventually, requireService, uniqueName } from '../helpers/pombo-harness.ts';
import { createTopic, KAFKA_BROKERS, kafkaAvailable, readTopic } from './kafka-topic-reader.ts';

const needsKafka = requireService(await kafkaAvailable(), 'Kafka on 127.0.0.1:9092', 'run scripts/services/kafka.sh');

/** A Kafka driver on its own thread, publishing to `<prefix>.inst.messages-upsert` (through `brokers`, Kafka's own address by default). */
async function threadedKafka(brokers = KAFKA_BROKERS): Promise<{ driver: ThreadedDriver; topic: string }> {
  const prefix = uniqueName('thread').replace(/-/g, '');
  const settings: KafkaSettings = {
    clientId: 'pombo-test',
    brokers: [brokers],
    connectTimeoutMs: 3000,
    requestTimeoutMs: 10_000,
    prefix,
    autoCreateTopics: false,
    partitions: 1,
    replicationFactor: 1,
    maxMessageBytes: 1_000_000,
    sasl: undefined,
    tls: undefined,
  };
  const topic = `${prefix}.inst.messages-upsert`;
  await createTopic(topic);
  return { driver: new ThreadedDriver({ driver: 'kafka', settings, level: 'silent', batch: 500 }, pino({ level: 'silent' })), topic };
}

let pos = 0;
const message = (id: string, remoteJid = '5511999990000@s.whatsapp.net'): BrokerMessage => {
  pos += 1;
  const dataJson = JSON.stringify({ key: { remoteJid, id } });
  return {
    event: new LoggedEvent(pos, id, 'i1', 'inst', pos, 'MESSAGES_UPSERT', dataJson, null, new Date(1_700_000_000_000 + pos).toISOString()),
    body: JSON.stringify({ id, event: 'messages.upsert' }),
    scope: 'instance',
  };
};

const byInstance: BrokerTarget = { id: 'kafka:i1', ordering: 'instance' };
const kinds = (outcomes: readonly Outcome[]) => outcomes.map((outcome) => outcome.kind);
const errorOf = (outcome: Outcome | undefined) => (outcome?.kind === 'retry' ? outcome.error : '');

/** A lease as the worker hands it over: sure until `until`, withdrawn when `lost` aborts. */
const leaseUntil = (until: number, lost = new AbortController()): SendContext => leaseContext(() => until, lost.signal);

test('on its own thread, the Kafka driver publishes each event with its headers, chat key and timestamp, in order', needsKafka, async () => {
  const { driver, topic } = await threadedKafka();
  try {
    const batch = [message('t1', 'a@s.whatsapp.net'), message('t2', 'b@s.whatsapp.net'), message('t3', 'a@s.whatsapp.net')];
    assert.deepEqual(kinds(await driver.publish(batch, { id: 'kafka:i1', ordering: 'chat' })), ['delivered', 'delivered', 'delivered']);
    const records = await readTopic(topic, (got) => got.length >= 3);
    assert.deepEqual(records.map((record) => record.headers.get('event-id')), ['t1', 't2', 't3']);
    assert.deepEqual(records.map((record) => record.key), ['inst/a@s.whatsapp.net', 'inst/b@s.whatsapp.net', 'inst/a@s.whatsapp.net'], 'the chat, read from the event data, keys each record');
    const first = JSON.parse(records[0]!.value);
    assert.equal(first.id, 't1');
    assert.equal(first.timestamp, Date.parse(batch[0]!.event.createdAt));
    assert.equal(driver.connection().state, 'connected', 'the thread reports its connection');
  } finally {
    await driver.close();
  }
});

test('on its own thread, a batch whose lease the node drops before it is written is not published; the next one, under a live lease, is', needsKafka, async () => {
  const { driver, topic } = await threadedKafka();
  try {
    // The thread connects on its first batch, so this one waits; the node drops the lease meanwhile.
    const lost = new AbortController();
    const publishing = driver.publish([message('dropped')], byInstance, leaseUntil(Date.now() + 60_000, lost));
    lost.abort();
    const [outcome] = await publishing;
    assert.equal(outcome?.kind, 'retry');
    assert.equal(errorOf(outcome), WITHDRAWN_REASON);

    // A lease that ends while the batch waits (the process was paused, say) withdraws it too.
    const expired = await driver.publish([message('late')], byInstance, leaseUntil(Date.now() - 1));
    assert.equal(errorOf(expired[0]), WITHDRAWN_REASON);
    // So does one dropped before the batch was handed over (its abort event has already fired).
    const gone = new AbortController();
    gone.abort();
    const handedAfter = await driver.publish([message('after-drop')], byInstance, leaseUntil(Date.now() + 60_000, gone));
    assert.equal(errorOf(handedAfter[0]), WITHDRAWN_REASON);

    assert.deepEqual(kinds(await driver.publish([message('kept')], byInstance, leaseUntil(Date.now() + 60_000))), ['delivered']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ids = (await readTopic(topic, (got) => got.length >= 1)).map((record) => record.headers.get('event-id'));
    assert.deepEqual(ids, ['kept'], 'the withdrawn batches never reached Kafka');
  } finally {
    await driver.close();
  }
});

/** A TCP proxy to Kafka that opens each connection `delayMs` late: a client's first connection (the bootstrap) waits that long. */
async function slowProxy(delayMs: number): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    setTimeout(() => {
      const [host, port] = KAFKA_BROKERS.split(':');
      const upstream = connect(Number(port), host);
      sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => (client.destroy(), upstream.destroy());
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test('on its own thread, a batch that waits past the moment its lease was sure until is written, as the node renewed the lease meanwhile', needsKafka, async () => {
  const proxy = await slowProxy(1500);
  const { driver, topic } = await threadedKafka(proxy.address);
  try {
    // Sure for 300 ms when handed over; renewed from then on (a lease renewal); the connection takes 1.5 s.
    let asked = 0;
    const renewed = leaseContext(() => Date.now() + (asked++ === 0 ? 300 : 60_000), new AbortController().signal);
    const started = Date.now();
    const outcomes = await driver.publish([message('renewed')], byInstance, renewed);
    assert.ok(Date.now() - started >= 1500, 'the batch waited for the connection');
    assert.deepEqual(kinds(outcomes), ['delivered'], errorOf(outcomes[0]));
    assert.deepEqual((await readTopic(topic, (got) => got.length >= 1)).map((record) => record.headers.get('event-id')), ['renewed']);
  } finally {
    await driver.close();
    await proxy.close();
  }
});

test('a driver thread that dies answers its batches in flight "retry", and a new thread publishes the next batch', needsKafka, async () => {
  const { driver, topic } = await threadedKafka();
  try {
    assert.deepEqual(kinds(await driver.publish([message('before')], byInstance)), ['delivered']);
    const thread = (driver as unknown as { thread: Worker }).thread;
    const inFlight = driver.publish([message('in-flight-1'), message('in-flight-2')], byInstance);
    await thread.terminate();
    const outcomes = await inFlight;
    // Terminated before or after Kafka took them: either way the dispatcher is told to send them again, never that they are lost.
    assert.deepEqual(kinds(outcomes), ['retry', 'retry']);
    assert.match(errorOf(outcomes[0]), /the driver's thread stopped/);
    assert.equal(driver.connection().state, 'disconnected');
    // With nothing to publish, a new thread starts and connects by itself (find and /metrics recover).
    await eventually(() => driver.connection().state === 'connected', 'connected again without a batch', 15_000);

    assert.deepEqual(kinds(await driver.publish([message('after')], byInstance)), ['delivered']);
    const ids = (await readTopic(topic, (got) => got.some((record) => record.headers.get('event-id') === 'after'))).map((record) => record.headers.get('event-id'));
    assert.equal(ids[0], 'before');
    assert.equal(ids.at(-1), 'after');
  } finally {
    await driver.close();
  }
});
