import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { BrokerMessage } from '../../src/channels/broker/broker-channel.ts';
import { KafkaDriver } from '../../src/channels/kafka/kafka-driver.ts';
import type { EventKey } from '../../src/core/event-names.ts';
import type { DestinationSpec } from '../../src/delivery/destination.ts';
import type { StoredEvent } from '../../src/store/types.ts';
import { eventually, requireService, startPombo, uniqueName } from '../helpers/pombo-harness.ts';
import { drained, phone } from './broker-test-helpers.ts';
import { startKafkaMetadataProxy } from './kafka-metadata-proxy.ts';
import { createTopic, existingTopics, KAFKA_BROKERS, kafkaAvailable, partitionsOf, readTopic, valuesOf } from './kafka-topic-reader.ts';

const available = await kafkaAvailable();
const needsKafka = requireService(available, 'Kafka on 127.0.0.1:9092', 'run scripts/services/kafka.sh');

const KAFKA_ENV = { KAFKA_ENABLED: 'true', KAFKA_BROKERS, KAFKA_RETRY_MAX_DELAY_MS: '300' };
const jidOf = (number: string) => `${number}@s.whatsapp.net`;

test('sandbox events arrive on the seed topics evolution.{instance}.{event}, keyed by instance, with id headers, filtered per instance', needsKafka, async () => {
  const pombo = await startPombo({ ...KAFKA_ENV, KAFKA_AUTO_CREATE_TOPICS: 'true' });
  try {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const bobNumber = phone();
    await pombo.sandbox(alice, { kafka: { enabled: true, events: ['SEND_MESSAGE'] } });
    await pombo.sandbox(bob, { number: bobNumber, kafka: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    const sent = await pombo.api('POST', `/message/sendText/${alice}`, { number: bobNumber, text: 'Olá, Kafka' });
    assert.equal(sent.status, 201);

    const [upsert] = await readTopic(`evolution.${bob}.messages-upsert`, (records) => records.length >= 1);
    assert.ok(upsert);
    const envelope = JSON.parse(upsert.value);
    assert.equal(upsert.key, bob, 'the key is the instance, so its events stay in one partition');
    assert.equal(envelope.event, 'messages.upsert');
    assert.equal(envelope.instance, bob);
    assert.equal(envelope.data.message.conversation, 'Olá, Kafka');
    assert.match(envelope.id, /^evt_/);
    assert.equal(typeof envelope.timestamp, 'number');
    assert.equal(upsert.headers.get('event-id'), envelope.id);
    assert.equal(upsert.headers.get('event'), 'messages.upsert');
    assert.equal(upsert.headers.get('instance'), bob);

    const [sentRecord] = valuesOf(await readTopic(`evolution.${alice}.send-message`, (records) => records.length >= 1));
    assert.equal(sentRecord.event, 'send.message');

    const found = await drained(pombo, 'kafka', alice);
    assert.deepEqual(found.events, ['SEND_MESSAGE']);
    assert.equal(found.state.connection, 'connected');
    await drained(pombo, 'kafka', bob);
    // The sandbox also produced alice's receipts (MESSAGES_UPDATE) and bob's other events: the filters kept them out.
    assert.deepEqual(
      await existingTopics([`evolution.${alice}.messages-update`, `evolution.${alice}.qrcode-updated`, `evolution.${bob}.connection-update`]),
      [],
    );
  } finally {
    await pombo.close();
  }
});

test('global mode publishes to {prefix}.global.{event} with KAFKA_EVENTS_* filters; ordering "chat" keys by instance and chat', needsKafka, async () => {
  const prefix = uniqueName('pt').replace('-', '');
  const pombo = await startPombo({
    ...KAFKA_ENV,
    KAFKA_AUTO_CREATE_TOPICS: 'true',
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_GLOBAL_ENABLED: 'true',
    KAFKA_EVENTS_MESSAGES_UPSERT: 'true',
    KAFKA_EVENTS_SEND_MESSAGE: 'false',
  });
  try {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const aliceNumber = phone();
    const bobNumber = phone();
    await pombo.sandbox(alice, { number: aliceNumber });
    await pombo.sandbox(bob, { number: bobNumber, kafka: { enabled: true, events: ['MESSAGES_UPSERT'], ordering: 'chat' } });
    await pombo.api('POST', `/message/sendText/${alice}`, { number: bobNumber, text: 'global' });

    const [global] = await readTopic(`${prefix}.global.messages-upsert`, (records) => records.length >= 1);
    assert.equal(JSON.parse(global?.value ?? '{}').instance, bob);
    assert.equal(global?.key, bob);
    const [perChat] = await readTopic(`${prefix}.${bob}.messages-upsert`, (records) => records.length >= 1);
    assert.equal(perChat?.key, `${bob}/${jidOf(aliceNumber)}`);
    assert.equal((await pombo.api('GET', `/kafka/find/${bob}`)).body.ordering, 'chat');

    await pombo.pombo.context.dispatcher.whenIdle('kafka:global');
    assert.deepEqual(await existingTopics([`${prefix}.global.send-message`, `${prefix}.global.messages-update`]), []);
  } finally {
    await pombo.close();
  }
});

test('ordering "chat": the events of many chats, in flight at once on one partition, all arrive, each chat in order', needsKafka, async () => {
  // One producer numbers a partition's batches as it builds each request: requests in flight at
  // once for one partition used to share a number, and the broker took all but one for duplicates.
  const pombo = await startPombo({ ...KAFKA_ENV, KAFKA_AUTO_CREATE_TOPICS: 'true' });
  try {
    const name = uniqueName('chats');
    await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', kafka: { enabled: true, events: ['MESSAGES_UPSERT'], ordering: 'chat' } });
    const chats = 40;
    const perChat = 5;
    const events = Array.from({ length: chats * perChat }, (_, n) => ({
      event: 'MESSAGES_UPSERT',
      data: { key: { remoteJid: jidOf(`5511900${String(n % chats).padStart(6, '0')}`), id: `K${n}` }, n },
    }));
    const posted = await pombo.api('POST', `/events/${name}`, { events });
    assert.equal(posted.status, 201);
    await drained(pombo, 'kafka', name);

    const records = valuesOf(await readTopic(`evolution.${name}.messages-upsert`, (all) => all.length >= events.length, 15_000));
    assert.deepEqual([...new Set(records.map((record) => record.data.n))].sort((a, b) => a - b), events.map((_, n) => n), 'every event arrived');
    for (let chat = 0; chat < chats; chat++) {
      const jid = events[chat]?.data.key.remoteJid;
      const lastCopies = records.filter((record) => record.data.key.remoteJid === jid).map((record) => record.data.n).reverse();
      const inOrder = lastCopies.filter((n, index) => lastCopies.indexOf(n) === index).reverse();
      assert.deepEqual(inOrder, events.map((_, n) => n).filter((n) => n % chats === chat), `chat ${chat} in order`);
    }
  } finally {
    await pombo.close();
  }
});

test("with KAFKA_AUTO_CREATE_TOPICS=false, as Evolution API's settings have it, the broker creates a new instance's topic on its first event", needsKafka, async () => {
  // The test broker keeps Kafka's default auto.create.topics.enable=true, as most brokers Evolution API published to did.
  const pombo = await startPombo(KAFKA_ENV);
  try {
    const name = uniqueName('ingest');
    await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', kafka: { enabled: true } });
    const posted = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { key: { remoteJid: 'x@s.whatsapp.net', id: 'M1' } } });
    assert.equal(posted.status, 201);
    const [record] = valuesOf(await readTopic(`evolution.${name}.messages-upsert`, (records) => records.length >= 1));
    assert.equal(record.id, posted.body.id);
    assert.equal((await drained(pombo, 'kafka', name)).state.lastError, null);
  } finally {
    await pombo.close();
  }
});

test('a missing topic the broker will not create (auto.create.topics.enable=false) is a visible delivery error, retried until the topic exists', needsKafka, async () => {
  // The proxy clears the client's consent in its Metadata requests: the broker answers "unknown topic", as one with auto-creation off does.
  const proxy = await startKafkaMetadataProxy({ refuse: true });
  const pombo = await startPombo({ ...KAFKA_ENV, KAFKA_BROKERS: proxy.address });
  try {
    const name = uniqueName('ingest');
    // Only MESSAGES_UPSERT: the instance's INSTANCE_CREATE would wait first, for a topic of its own.
    await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', kafka: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    const posted = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { key: { remoteJid: 'x@s.whatsapp.net', id: 'M1' } } });
    assert.equal(posted.status, 201);
    const topic = `evolution.${name}.messages-upsert`;
    const missing = new RegExp(`topic "${topic}" does not exist and the brokers do not create topics \\(auto.create.topics.enable=false\\) while KAFKA_AUTO_CREATE_TOPICS=false: create it`);
    // Waits for this error in particular: a broker that has just restarted may answer something else first.
    const failing = await eventually(async () => {
      const found = await pombo.api('GET', `/kafka/find/${name}`);
      return missing.test(found.body.state.lastError ?? '') && found.body;
    }, 'the missing-topic error in find');
    assert.ok(failing.state.backlog >= 1, 'the event waits');
    assert.ok(proxy.autoCreationAsked.includes(true), 'Pombo let the broker create the topic');

    await createTopic(topic);
    const [record] = valuesOf(await readTopic(topic, (records) => records.length >= 1));
    assert.equal(record.id, posted.body.id);
    await eventually(async () => (await pombo.api('GET', `/kafka/find/${name}`)).body.state.lastError === null, 'the error to clear');
  } finally {
    await pombo.close();
    await proxy.close();
  }
});

test("with KAFKA_AUTO_CREATE_TOPICS=true Pombo creates the topic with KAFKA_NUM_PARTITIONS, never the broker with its defaults", needsKafka, async () => {
  const proxy = await startKafkaMetadataProxy({ refuse: false });
  const pombo = await startPombo({ ...KAFKA_ENV, KAFKA_BROKERS: proxy.address, KAFKA_AUTO_CREATE_TOPICS: 'true', KAFKA_NUM_PARTITIONS: '3' });
  try {
    const name = uniqueName('ingest');
    await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', kafka: { enabled: true } });
    await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { key: { remoteJid: 'x@s.whatsapp.net', id: 'M1' } } });
    const topic = `evolution.${name}.messages-upsert`;
    await readTopic(topic, (records) => records.length >= 1);
    assert.equal(await partitionsOf(topic), 3);
    assert.ok(proxy.autoCreationAsked.length > 0 && !proxy.autoCreationAsked.includes(true), `metadata requests asked for auto-creation: ${proxy.autoCreationAsked}`);
  } finally {
    await pombo.close();
    await proxy.close();
  }
});

test('a batch larger than KAFKA_MAX_MESSAGE_BYTES goes in several requests, in order', needsKafka, async () => {
  const pombo = await startPombo({ ...KAFKA_ENV, KAFKA_AUTO_CREATE_TOPICS: 'true', KAFKA_MAX_MESSAGE_BYTES: '4096' });
  try {
    const name = uniqueName('chunks');
    await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', kafka: { enabled: true } });
    const events = Array.from({ length: 30 }, (_, n) => ({ event: 'MESSAGES_UPSERT', data: { key: { id: `C${n}` }, text: 'x'.repeat(1000), n } }));
    await pombo.api('POST', `/events/${name}`, { events });
    const records = valuesOf(await readTopic(`evolution.${name}.messages-upsert`, (all) => all.length >= 30));
    assert.deepEqual(records.map((record) => record.data.n), events.map((_, n) => n));
  } finally {
    await pombo.close();
  }
});

test('an event over KAFKA_MAX_MESSAGE_BYTES arrives as a reference that resolves to the whole event', needsKafka, async () => {
  const pombo = await startPombo({ ...KAFKA_ENV, KAFKA_AUTO_CREATE_TOPICS: 'true', KAFKA_MAX_MESSAGE_BYTES: '4096' });
  try {
    const name = uniqueName('big');
    const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', kafka: { enabled: true } });
    const other = await pombo.api('POST', '/instance/create', { instanceName: uniqueName('other'), integration: 'INGEST' });
    const big = { key: { remoteJid: 'x@s.whatsapp.net', id: 'BIG' }, message: { conversation: 'é'.repeat(6000) } };
    const small = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { key: { id: 'SMALL' } } });
    const large = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: big });
    const records = valuesOf(await readTopic(`evolution.${name}.messages-upsert`, (all) => all.length >= 2));
    assert.deepEqual(records.map((record) => record.id), [small.body.id, large.body.id], 'in log order');
    assert.equal(records[0].dataType, undefined);
    const reference = records[1];
    assert.equal(reference.dataType, 'reference');
    assert.equal(reference.data, undefined);
    assert.equal(reference.event, 'messages.upsert');
    assert.ok(reference.size > 4096);
    assert.equal(reference.fetch, `${pombo.pombo.context.config.server.url}/events/${name}/${large.body.id}`);

    const path = new URL(reference.fetch).pathname;
    const fetched = await pombo.api('GET', path, undefined, created.body.hash);
    assert.equal(fetched.status, 200, 'the instance token resolves its own references');
    assert.equal(fetched.body.id, large.body.id);
    assert.deepEqual(fetched.body.data, big);
    assert.equal((await pombo.api('GET', path, undefined, other.body.hash)).status, 403, "another instance's token cannot");
    assert.equal((await pombo.api('GET', path, undefined, null)).status, 401);
    const unknown = await pombo.api('GET', `/events/${name}/evt_unknown`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 'POMBO_ERR_NOT_FOUND');
  } finally {
    await pombo.close();
  }
});

test('bad Kafka variables stop the boot with a message naming each', async () => {
  await assert.rejects(
    startPombo({ KAFKA_ENABLED: 'true', KAFKA_BROKERS: 'localhost:99999', KAFKA_SASL_ENABLED: 'true', KAFKA_SSL_ENABLED: 'true', KAFKA_SSL_CA: '/nonexistent/ca.pem' }),
    (error: Error) =>
      /KAFKA_BROKERS has "localhost:99999"/.test(error.message) &&
      /KAFKA_SASL_ENABLED=true needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/.test(error.message) &&
      /KAFKA_SSL_CA="\/nonexistent\/ca.pem" is neither a PEM nor the path/.test(error.message),
  );
});

test("a lane's next batch never overtakes one that waits for its topic to be created: the topic holds the log's order", needsKafka, async () => {
  const prefix = uniqueName('order').replace(/-/g, '');
  const driver = new KafkaDriver(
    { clientId: 'pombo-test', brokers: [KAFKA_BROKERS], connectTimeoutMs: 3000, requestTimeoutMs: 10_000, prefix, autoCreateTopics: true, partitions: 1, replicationFactor: 1, maxMessageBytes: 1_000_000, sasl: undefined, tls: undefined },
    pino({ level: 'silent' }),
    500,
  );
  let pos = 0;
  const message = (event: EventKey, id: string): BrokerMessage => ({
    event: { pos: ++pos, id, instanceId: 'i1', instance: 'inst', seq: pos, event, data: {}, dataJson: '{}', sender: null, createdAt: new Date().toISOString() } as unknown as StoredEvent,
    body: JSON.stringify({ id }),
    scope: 'instance',
  });
  const destination = { id: 'kafka:i1', ordering: 'instance' } as DestinationSpec;
  const upserts = `${prefix}.inst.messages-upsert`;
  try {
    await createTopic(upserts);
    assert.deepEqual((await driver.publish([message('MESSAGES_UPSERT', 'e0')], destination)).map((outcome) => outcome.kind), ['delivered']);
    // The lane hands over two batches at once (Kafka pipelines them); the first one needs a topic not created yet.
    const first = driver.publish([message('MESSAGES_UPSERT', 'e1'), message('MESSAGES_UPDATE', 'e2'), message('MESSAGES_UPSERT', 'e3')], destination);
    const second = driver.publish([message('MESSAGES_UPSERT', 'e4')], destination);
    assert.deepEqual((await Promise.all([first, second])).flat().map((outcome) => outcome.kind), Array(4).fill('delivered'));
    const records = await readTopic(upserts, (got) => got.length >= 4);
    assert.deepEqual(records.map((record) => record.headers.get('event-id')), ['e0', 'e1', 'e3', 'e4']);
  } finally {
    await driver.close();
  }
});
