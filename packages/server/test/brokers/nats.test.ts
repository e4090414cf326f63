import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { numberedEvent } from '../helpers/event-flow.ts';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { deleteStreams, natsNames, natsRequired, NATS_URI, readStream, subscribe, withNats, type NatsReceived } from './nats-helpers.ts';

const nats = await natsRequired();

const natsEnv = (names: { prefix: string; stream: string }, extra: Record<string, string> = {}) => ({
  NATS_ENABLED: 'true',
  NATS_URI,
  NATS_PREFIX_KEY: names.prefix,
  NATS_JETSTREAM_STREAM: names.stream,
  ...extra,
});

const numberOf = async (pombo: Harness, name: string): Promise<string> =>
  (await pombo.api('GET', `/instance/fetchInstances?instanceName=${name}`)).body[0].number;

const idOf = async (pombo: Harness, name: string): Promise<string> =>
  (await pombo.api('GET', `/instance/fetchInstances?instanceName=${name}`)).body[0].id;

const subjectsOf = (received: NatsReceived[]) => received.map((item) => item.subject).sort();

test('core NATS, per-instance mode: dotted subjects, filtered events, headers with the event id, name and instance', nats, async () => {
  const names = natsNames();
  const subscriber = await subscribe(`${names.prefix}.>`);
  const pombo = await startPombo(natsEnv(names));
  try {
    await pombo.sandbox('bob', { nats: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    await pombo.sandbox('alice');
    const set = await pombo.api('POST', '/nats/set/alice', { nats: { enabled: true, events: ['SEND_MESSAGE', 'messages.update'] } });
    assert.equal(set.status, 201);
    await pombo.api('POST', '/message/sendText/alice', { number: await numberOf(pombo, 'bob'), text: 'olá' });
    await eventually(() => subscriber.received.length >= 4, 'four messages');
    await pombo.pombo.context.dispatcher.whenIdle(`nats:${await idOf(pombo, 'alice')}`);
    assert.deepEqual(subjectsOf(subscriber.received), [
      `${names.prefix}.alice.messages.update`,
      `${names.prefix}.alice.messages.update`,
      `${names.prefix}.alice.send.message`,
      `${names.prefix}.bob.messages.upsert`,
    ]);
    const upsert = subscriber.received.find((item) => item.subject.endsWith('messages.upsert')) as NatsReceived;
    assert.equal(upsert.body.event, 'messages.upsert');
    assert.equal(upsert.body.instance, 'bob');
    assert.equal(upsert.body.data.message.conversation, 'olá');
    assert.deepEqual(
      { id: upsert.headers['event-id'], event: upsert.headers.event, key: upsert.headers['event-key'], instance: upsert.headers.instance },
      { id: upsert.body.id, event: 'messages.upsert', key: 'MESSAGES_UPSERT', instance: 'bob' },
    );
    assert.equal(upsert.headers['Nats-Msg-Id'], undefined, 'core NATS has no server-side dedupe');

    const find = await pombo.api('GET', '/nats/find/alice');
    assert.deepEqual(find.body.events, ['SEND_MESSAGE', 'MESSAGES_UPDATE']);
    assert.equal(find.body.state.connection, 'connected');
    assert.match((await pombo.api('GET', '/metrics')).body, /pombo_broker_connected\{channel="nats"\} 1/);
  } finally {
    await subscriber.close();
    await pombo.close();
  }
});

test('global mode publishes the toggled events of every instance', nats, async () => {
  const names = natsNames();
  const subscriber = await subscribe(`${names.prefix}.>`);
  const pombo = await startPombo(natsEnv(names, { NATS_GLOBAL_ENABLED: 'true', NATS_EVENTS_SEND_MESSAGE: 'true', NATS_EVENTS_QRCODE_UPDATED: 'false' }));
  try {
    await pombo.sandbox('carol');
    await pombo.sandbox('dave');
    await pombo.api('POST', '/message/sendText/carol', { number: await numberOf(pombo, 'dave'), text: 'a' });
    await pombo.api('POST', '/message/sendText/dave', { number: await numberOf(pombo, 'carol'), text: 'b' });
    await eventually(() => subscriber.received.length >= 2, 'two messages');
    await pombo.pombo.context.dispatcher.whenIdle('nats:global');
    await withNats((nc) => nc.flush());
    assert.deepEqual(subjectsOf(subscriber.received), [`${names.prefix}.carol.send.message`, `${names.prefix}.dave.send.message`]);
  } finally {
    await subscriber.close();
    await pombo.close();
  }
});

test('JetStream mode: a stream covers {prefix}.>, every event is stored once with Nats-Msg-Id, and a republish is deduplicated', nats, async () => {
  const names = natsNames();
  const pombo = await startPombo(natsEnv(names, { NATS_JETSTREAM_ENABLED: 'true' }));
  try {
    await pombo.api('POST', '/instance/create', { instanceName: 'feed', integration: 'INGEST', nats: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    const posted = await pombo.api('POST', '/events/feed', { events: [1, 2, 3, 4, 5].map((n) => numberedEvent(n)) });
    assert.equal(posted.status, 201);
    const destination = `nats:${await idOf(pombo, 'feed')}`;
    await eventually(async () => (await pombo.api('GET', '/nats/find/feed')).body.state.delivered === 5, 'five acknowledged publishes');

    // Publishing the same events again (a replay) must not store them twice.
    const { store } = pombo.pombo.context;
    await eventually(async () => (await store.getCursor(destination)) === (await store.headPosition()), 'the cursor at the head');
    const events = await pombo.pombo.context.store.read({ afterPos: 0, events: ['MESSAGES_UPSERT'], limit: 100 });
    assert.equal(await pombo.pombo.context.dispatcher.replay(destination, events), 5);
    await eventually(async () => (await pombo.api('GET', '/nats/find/feed')).body.state.delivered === 10, 'the replay to be acknowledged');

    await withNats(async (nc) => {
      const info = await (await jetstreamManager(nc)).streams.info(names.stream);
      assert.deepEqual(info.config.subjects, [`${names.prefix}.>`]);
      const stored = await readStream(nc, names.stream);
      assert.equal(stored.length, 5, 'the replay was deduplicated by Nats-Msg-Id');
      assert.deepEqual(stored.map((item) => item.body.data.n), [1, 2, 3, 4, 5]);
      for (const item of stored) {
        assert.equal(item.subject, `${names.prefix}.feed.messages.upsert`);
        assert.equal(item.headers['Nats-Msg-Id'], item.body.id);
        assert.equal(item.headers['event-id'], item.body.id);
      }
    });
  } finally {
    await pombo.close();
    await deleteStreams(names.stream);
  }
});

test('JetStream mode: a stream deleted while Pombo runs is made again, and the events published meanwhile are stored', nats, async () => {
  const names = natsNames();
  const pombo = await startPombo(natsEnv(names, { NATS_JETSTREAM_ENABLED: 'true', NATS_RETRY_MAX_DELAY_MS: '200' }));
  try {
    await pombo.api('POST', '/instance/create', { instanceName: 'feed', integration: 'INGEST', nats: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    await pombo.api('POST', '/events/feed', numberedEvent(1));
    await eventually(async () => (await pombo.api('GET', '/nats/find/feed')).body.state.delivered === 1, 'the first event');
    await deleteStreams(names.stream);
    await pombo.api('POST', '/events/feed', { events: [2, 3].map((n) => numberedEvent(n)) });
    await eventually(async () => (await pombo.api('GET', '/nats/find/feed')).body.state.delivered === 3, 'the events after the deletion');
    const stored = await withNats((nc) => readStream(nc, names.stream));
    assert.deepEqual(stored.map((item) => item.body.data.n), [2, 3]);
  } finally {
    await pombo.close();
    await deleteStreams(names.stream);
  }
});

test('JetStream mode publishes into a stream the operator already made for the subjects', nats, async () => {
  const names = natsNames();
  const own = `OPERATOR_${names.prefix}`;
  await withNats(async (nc) => {
    await (await jetstreamManager(nc)).streams.add({ name: own, subjects: [`${names.prefix}.>`] });
  });
  const pombo = await startPombo(natsEnv(names, { NATS_JETSTREAM_ENABLED: 'true' }));
  try {
    await pombo.api('POST', '/instance/create', { instanceName: 'feed', integration: 'INGEST', nats: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    await pombo.api('POST', '/events/feed', numberedEvent(7));
    await eventually(async () => (await pombo.api('GET', '/nats/find/feed')).body.state.delivered === 1, 'the acknowledged publish');
    await withNats(async (nc) => {
      const stored = await readStream(nc, own);
      assert.deepEqual(stored.map((item) => item.body.data.n), [7]);
      const streamNames = await (await jetstreamManager(nc)).streams.names().next();
      assert.ok(!streamNames.includes(names.stream), 'no second stream was created');
    });
  } finally {
    await pombo.close();
    await deleteStreams(own, names.stream);
  }
});

test('an event larger than the server\'s max_payload is published as a reference to fetch, never dropped', nats, async () => {
  const names = natsNames();
  const subscriber = await subscribe(`${names.prefix}.>`);
  const pombo = await startPombo(natsEnv(names, { SERVER_URL: 'http://pombo.test' }));
  try {
    await pombo.api('POST', '/instance/create', { instanceName: 'big', integration: 'INGEST', nats: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    const huge = { ...numberedEvent(1), data: { ...numberedEvent(1).data, message: { conversation: 'x'.repeat(1_200_000) } } };
    const posted = await pombo.api('POST', '/events/big', { events: [huge, numberedEvent(2)] });
    assert.equal(posted.status, 201);
    await eventually(() => subscriber.received.length === 2, 'both events');
    const [reference, normal] = subscriber.received as [NatsReceived, NatsReceived];
    assert.equal(reference.body.dataType, 'reference');
    assert.equal(reference.body.data, undefined);
    assert.ok(reference.body.size > 1_200_000);
    assert.equal(reference.body.fetch, `http://pombo.test/events/big/${reference.body.id}`);
    const fetched = await pombo.api('GET', new URL(reference.body.fetch).pathname);
    assert.equal(fetched.body.data.message.conversation.length, 1_200_000);
    assert.equal(normal.body.data.n, 2);
  } finally {
    await subscriber.close();
    await pombo.close();
  }
});

test('bad NATS configuration: malformed variables stop the start naming them; invalid events are a 400', nats, async () => {
  const boot = (env: Record<string, string>) => startPombo({ NATS_ENABLED: 'true', NATS_URI, ...env });
  await assert.rejects(boot({ NATS_URI: 'http://localhost:4222' }), /NATS_URI has "http:\/\/localhost:4222", which is not a nats:\/\/host:port/);
  await assert.rejects(startPombo({ NATS_ENABLED: 'true' }), /NATS_URI is required when NATS_ENABLED=true/);
  await assert.rejects(boot({ NATS_PREFIX_KEY: 'events.>', NATS_JETSTREAM_STREAM: 'a.b', NATS_JETSTREAM_ENABLED: 'sure' }), (error: Error) => {
    assert.match(error.message, /NATS_PREFIX_KEY="events\.>"/);
    assert.match(error.message, /NATS_JETSTREAM_STREAM="a\.b"/);
    assert.match(error.message, /NATS_JETSTREAM_ENABLED="sure" must be true or false/);
    return true;
  });
  // A toggle no event has (a typo, or another Evolution version's event) is ignored with a boot warning, not refused.
  const typo = await boot({ NATS_EVENTS_MESSAGE_UPSERT: 'true' });
  try {
    assert.match(typo.pombo.context.config.warnings.join('\n'), /NATS_EVENTS_MESSAGE_UPSERT name no event Pombo has; ignored/);
  } finally {
    await typo.close();
  }

  const names = natsNames();
  const pombo = await startPombo(natsEnv(names));
  try {
    await pombo.api('POST', '/instance/create', { instanceName: 'picky', integration: 'INGEST' });
    const unknown = await pombo.api('POST', '/nats/set/picky', { nats: { enabled: true, events: ['messages.upsert', 'messages.nope'] } });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.code, 'POMBO_ERR_UNKNOWN_EVENT');
    assert.match(unknown.body.response.message[0], /messages\.nope/);
    const missing = await pombo.api('POST', '/nats/set/picky', { enabled: true });
    assert.equal(missing.status, 400);
    assert.match(missing.body.response.message[0], /nats must be a JSON object/);
  } finally {
    await pombo.close();
  }
});
