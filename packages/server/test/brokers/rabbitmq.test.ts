import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { numberedEvent } from '../helpers/event-flow.ts';
import { cleanupRabbit, consume, queueDepth, rabbitmqRequired, rabbitNames, RABBITMQ_URI, type Received } from './rabbitmq-helpers.ts';

const rabbit = await rabbitmqRequired();
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** Seed 001, section 3, "Consumidor Exemplo (Node.js)", verbatim. */
const SEED_CONSUMER = `const amqp = require('amqplib');

async function consumeEvents() {
  const conn = await amqp.connect('amqp://localhost');
  const channel = await conn.createChannel();
  
  await channel.assertExchange('evolution', 'topic', { durable: true });
  
  const q = await channel.assertQueue('', { exclusive: true });
  
  // Escutar todos os eventos de uma instância
  await channel.bindQueue(q.queue, 'evolution', 'evolution.minha-instancia.*');
  
  channel.consume(q.queue, (msg) => {
    const event = JSON.parse(msg.content.toString());
    console.log('Evento:', event);
  });
}`;

const rabbitEnv = (names: { exchange: string; prefix: string }, extra: Record<string, string> = {}) => ({
  RABBITMQ_ENABLED: 'true',
  RABBITMQ_URI,
  RABBITMQ_EXCHANGE_NAME: names.exchange,
  RABBITMQ_PREFIX_KEY: names.prefix,
  ...extra,
});

const numberOf = async (pombo: Harness, name: string): Promise<string> =>
  (await pombo.api('GET', `/instance/fetchInstances?instanceName=${name}`)).body[0].number;

const keysOf = (received: Received[]) => received.map((item) => item.routingKey);

test('the seed\'s example consumer, unchanged, receives the sandbox events of "minha-instancia"', rabbit, async () => {
  const child = spawn(process.execPath, ['-e', `${SEED_CONSUMER}\nconsumeEvents().then(() => console.log('READY'));`], { cwd: REPO });
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stdout += chunk));
  const pombo = await startPombo({ RABBITMQ_ENABLED: 'true', RABBITMQ_URI: 'amqp://localhost' });
  try {
    await eventually(() => stdout.includes('READY'), 'the seed consumer to bind its queue');
    await pombo.sandbox('minha-instancia', { rabbitmq: { enabled: true } });
    await pombo.sandbox('contato');
    await pombo.api('POST', '/message/sendText/minha-instancia', { number: await numberOf(pombo, 'contato'), text: 'Olá!' });
    await pombo.api('POST', '/message/sendText/contato', { number: await numberOf(pombo, 'minha-instancia'), text: 'Oi!' });
    const page = await pombo.api('GET', '/events/minha-instancia?events=SEND_MESSAGE,MESSAGES_UPSERT');
    const ids: string[] = page.body.events.map((event: { id: string }) => event.id);
    assert.equal(ids.length, 2);
    await eventually(() => ids.every((id) => stdout.includes(`id: '${id}'`)), 'the consumer to print both events', 15_000);
    assert.match(stdout, /Evento: \{\s+id: 'evt_\w+',\s+event: 'send\.message',\s+instance: 'minha-instancia'/);
    assert.match(stdout, /event: 'messages\.upsert',\s+instance: 'minha-instancia'/);
  } finally {
    child.kill();
    await pombo.close();
    await cleanupRabbit('evolution', 'evolution', ['minha-instancia'], { keepExchange: true });
  }
});

test('per-instance mode: filtered events, kebab routing keys, durable queues per instance and event, confirmed persistent messages', rabbit, async () => {
  const names = rabbitNames();
  const consumer = await consume(names.exchange, `${names.prefix}.#`);
  const pombo = await startPombo(rabbitEnv(names));
  try {
    await pombo.sandbox('bob', { rabbitmq: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    await pombo.sandbox('alice');
    const set = await pombo.api('POST', '/rabbitmq/set/alice', { rabbitmq: { enabled: true, events: ['send.message'] } });
    assert.equal(set.status, 201);
    assert.deepEqual(set.body.events, ['SEND_MESSAGE']);
    const bob = await numberOf(pombo, 'bob');
    for (const text of ['one', 'two']) await pombo.api('POST', '/message/sendText/alice', { number: bob, text });

    await eventually(() => consumer.received.length >= 4, 'four messages');
    await pombo.pombo.context.dispatcher.whenIdle(`rabbitmq:${(await pombo.api('GET', '/instance/fetchInstances?instanceName=alice')).body[0].id}`);
    assert.deepEqual(keysOf(consumer.received).sort(), [
      `${names.prefix}.alice.send-message`,
      `${names.prefix}.alice.send-message`,
      `${names.prefix}.bob.messages-upsert`,
      `${names.prefix}.bob.messages-upsert`,
    ]);
    const upsert = consumer.received.find((item) => item.routingKey.endsWith('messages-upsert')) as Received;
    assert.equal(upsert.body.event, 'messages.upsert');
    assert.equal(upsert.body.instance, 'bob');
    assert.match(upsert.body.id, /^evt_/);
    assert.ok(['one', 'two'].includes(upsert.body.data.message.conversation));
    const { properties } = upsert.message;
    assert.equal(properties.deliveryMode, 2, 'persistent');
    assert.equal(properties.messageId, upsert.body.id);
    assert.equal(properties.contentType, 'application/json');
    assert.deepEqual(
      { event: properties.headers?.event, key: properties.headers?.['event-key'], instance: properties.headers?.instance, id: properties.headers?.['event-id'] },
      { event: 'messages.upsert', key: 'MESSAGES_UPSERT', instance: 'bob', id: upsert.body.id },
    );

    // The durable queues hold the events for consumers that are not connected yet.
    assert.equal(await queueDepth(`${names.prefix}.bob.messages-upsert`), 2);
    assert.equal(await queueDepth(`${names.prefix}.alice.send-message`), 2);
    assert.equal(await queueDepth(`${names.prefix}.alice.messages-update`), undefined, 'no queue for an event that is not enabled');

    const find = await pombo.api('GET', '/rabbitmq/find/alice');
    assert.equal(find.body.enabled, true);
    assert.equal(find.body.state.connection, 'connected');
    assert.equal(find.body.state.delivered, 2);
    const metrics = await pombo.api('GET', '/metrics');
    assert.match(metrics.body, /pombo_broker_connected\{channel="rabbitmq"\} 1/);
  } finally {
    await consumer.close();
    await pombo.close();
    await cleanupRabbit(names.exchange, names.prefix, ['alice', 'bob']);
  }
});

test('global mode publishes the toggled events of every instance, without per-instance config', rabbit, async () => {
  const names = rabbitNames();
  const consumer = await consume(names.exchange, `${names.prefix}.#`);
  const pombo = await startPombo(
    rabbitEnv(names, { RABBITMQ_GLOBAL_ENABLED: 'true', RABBITMQ_EVENTS_SEND_MESSAGE: 'true', RABBITMQ_EVENTS_MESSAGES_UPSERT: 'true', RABBITMQ_EVENTS_CONNECTION_UPDATE: 'false' }),
  );
  try {
    await pombo.sandbox('carol');
    await pombo.sandbox('dave');
    await pombo.api('POST', '/message/sendText/carol', { number: await numberOf(pombo, 'dave'), text: 'hello' });
    await pombo.api('POST', '/message/sendText/dave', { number: await numberOf(pombo, 'carol'), text: 'last' });
    // The last event published is dave's SEND_MESSAGE; a queue keeps order, so all before it are in.
    await eventually(() => consumer.received.some((item) => item.routingKey === `${names.prefix}.dave.send-message`), 'the last event');
    await pombo.pombo.context.dispatcher.whenIdle('rabbitmq:global');
    assert.deepEqual(keysOf(consumer.received).sort(), [
      `${names.prefix}.carol.messages-upsert`,
      `${names.prefix}.carol.send-message`,
      `${names.prefix}.dave.messages-upsert`,
      `${names.prefix}.dave.send-message`,
    ]);
    const find = await pombo.api('GET', '/rabbitmq/find/carol');
    assert.equal(find.body, null, 'global mode needs no per-instance config (never set: null, as in Evolution API)');
  } finally {
    await consumer.close();
    await pombo.close();
    await cleanupRabbit(names.exchange, names.prefix, ['carol', 'dave']);
  }
});

test('RABBITMQ_QUEUE_MAX_LENGTH bounds the declared queues; RABBITMQ_DECLARE_QUEUES=false declares none', rabbit, async () => {
  const bounded = rabbitNames();
  const bare = rabbitNames();
  const consumer = await consume(bare.exchange, `${bare.prefix}.#`);
  const first = await startPombo(rabbitEnv(bounded, { RABBITMQ_QUEUE_MAX_LENGTH: '3' }));
  const second = await startPombo(rabbitEnv(bare, { RABBITMQ_DECLARE_QUEUES: 'false' }));
  try {
    for (const pombo of [first, second]) {
      await pombo.api('POST', '/instance/create', { instanceName: 'feed', integration: 'INGEST', rabbitmq: { enabled: true } });
      const posted = await pombo.api('POST', '/events/feed', { events: [1, 2, 3, 4, 5].map((n) => numberedEvent(n)) });
      assert.equal(posted.status, 201);
    }
    await eventually(() => consumer.received.filter((item) => item.body.event === 'messages.upsert').length === 5, 'five events through the exchange');
    await eventually(async () => (await queueDepth(`${bounded.prefix}.feed.messages-upsert`)) === 3, 'the bounded queue to hold its last three');
    assert.equal(await queueDepth(`${bare.prefix}.feed.messages-upsert`), undefined);
  } finally {
    await consumer.close();
    await Promise.all([first.close(), second.close()]);
    await cleanupRabbit(bounded.exchange, bounded.prefix, ['feed']);
    await cleanupRabbit(bare.exchange, bare.prefix, ['feed']);
  }
});

test('pipelined batches keep the log order, even when an earlier batch waits for a queue to be declared', rabbit, async () => {
  const names = rabbitNames();
  const consumer = await consume(names.exchange, `${names.prefix}.#`);
  const pombo = await startPombo(rabbitEnv(names));
  try {
    await pombo.api('POST', '/instance/create', { instanceName: 'order', integration: 'INGEST', rabbitmq: { enabled: true } });
    await pombo.api('POST', '/events/order', numberedEvent(0));
    await eventually(() => consumer.received.some((item) => item.body.data?.n === 0), 'the first event');
    // 1,000 events in one append: two batches of 500 go out at once. The first ends with a new event
    // type (its queue is declared before it is published); the second needs no declaration.
    const events = Array.from({ length: 1000 }, (_, index) => numberedEvent(index + 1, index === 499 ? 'CHATS_UPDATE' : 'MESSAGES_UPSERT'));
    assert.equal((await pombo.api('POST', '/events/order', { events })).status, 201);
    // The instance's creation comes first (its RabbitMQ is set in the create body), then the 1,001 events.
    await eventually(() => consumer.received.length >= 1002, 'all 1,001 events', 15_000);
    assert.equal(consumer.received[0]?.body.event, 'instance.create');
    const order = consumer.received.slice(1).map((item) => item.body.data.n as number);
    assert.deepEqual(order, Array.from({ length: 1001 }, (_, n) => n));
  } finally {
    await consumer.close();
    await pombo.close();
    await cleanupRabbit(names.exchange, names.prefix, ['order']);
  }
});

test('an unreachable broker is shown in find and keeps the backlog; Pombo keeps serving', rabbit, async () => {
  const names = rabbitNames();
  const secret = 's3cret-password';
  const pombo = await startPombo(rabbitEnv(names, { RABBITMQ_URI: `amqp://pombo:${secret}@127.0.0.1:1`, RABBITMQ_RETRY_MAX_DELAY_MS: '200' }));
  try {
    await pombo.api('POST', '/instance/create', { instanceName: 'lonely', integration: 'INGEST', rabbitmq: { enabled: true } });
    await pombo.api('POST', '/events/lonely', { events: [1, 2, 3].map((n) => numberedEvent(n)) });
    const find = await eventually(async () => {
      const response = await pombo.api('GET', '/rabbitmq/find/lonely');
      return response.body.state.lastError && response.body.state.backlog >= 3 ? response.body : undefined;
    }, 'find to report the connection error');
    assert.notEqual(find.state.connection, 'connected');
    assert.match(find.state.lastError, /RabbitMQ at amqp:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
    assert.ok(!JSON.stringify(find).includes(secret), 'the password never shows');
    assert.equal(find.state.delivered, 0);
    assert.equal((await pombo.api('GET', '/health')).status, 200);
    assert.match((await pombo.api('GET', '/metrics')).body, /pombo_broker_connected\{channel="rabbitmq"\} 0/);
  } finally {
    await pombo.close();
  }
});

test('bad RabbitMQ configuration: malformed variables stop the start naming them; invalid events are a 400', rabbit, async () => {
  const boot = (env: Record<string, string>) => startPombo({ RABBITMQ_ENABLED: 'true', RABBITMQ_URI, ...env });
  await assert.rejects(boot({ RABBITMQ_URI: 'http://localhost:5672' }), /RABBITMQ_URI="http:\/\/localhost:5672" must be a URL starting with amqp:\/\/ or amqps:\/\//);
  await assert.rejects(startPombo({ RABBITMQ_ENABLED: 'true' }), /RABBITMQ_URI is required/);
  await assert.rejects(boot({ RABBITMQ_PREFIX_KEY: 'my prefix', RABBITMQ_FRAME_MAX: 'big' }), (error: Error) => {
    assert.match(error.message, /RABBITMQ_PREFIX_KEY="my prefix"/);
    assert.match(error.message, /RABBITMQ_FRAME_MAX="big"/);
    return true;
  });
  // A toggle no event has (a typo, or another Evolution version's event) is ignored with a boot warning, not refused.
  const typo = await boot({ RABBITMQ_EVENTS_MESSAGE_UPSERT: 'true' });
  try {
    assert.match(typo.pombo.context.config.warnings.join('\n'), /RABBITMQ_EVENTS_MESSAGE_UPSERT name no event Pombo has; ignored/);
  } finally {
    await typo.close();
  }
  // The real process stops with the list and exit code 78, not a stack trace.
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-badcfg-'));
  try {
    const env = { DATA_DIR: dataDir, AUTHENTICATION_API_KEY: 'bad-config-test-key', RABBITMQ_ENABLED: 'true', RABBITMQ_URI: 'amqp//nope' };
    await assert.rejects(spawnPombo(env, await freePort()), (error: Error) => {
      assert.match(error.message, /exited with 78: Invalid configuration:\n {2}- RABBITMQ_URI="amqp\/\/nope" must be a URL/);
      assert.doesNotMatch(error.message, /\bat \S+ \(/, 'no stack trace');
      return true;
    });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }

  const names = rabbitNames();
  const pombo = await startPombo(rabbitEnv(names));
  try {
    await pombo.api('POST', '/instance/create', { instanceName: 'picky', integration: 'INGEST' });
    const unknown = await pombo.api('POST', '/rabbitmq/set/picky', { rabbitmq: { enabled: true, events: ['MESSAGES_UPSERT', 'NOT_AN_EVENT'] } });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.code, 'POMBO_ERR_UNKNOWN_EVENT');
    assert.match(unknown.body.response.message[0], /NOT_AN_EVENT/);
    const wrongType = await pombo.api('POST', '/rabbitmq/set/picky', { rabbitmq: { enabled: 'yes' } });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body.response.message[0], /rabbitmq\.enabled must be true or false/);
    const created = await pombo.api('POST', '/instance/create', { instanceName: 'picky2', integration: 'INGEST', rabbitmq: { events: 'MESSAGES_UPSERT' } });
    assert.equal(created.status, 400);
    assert.match(created.body.response.message[0], /rabbitmq\.events must be an array/);
  } finally {
    await pombo.close();
  }
});

test('RabbitMQ given in /instance/create publishes its INSTANCE_CREATE, before the events that follow', rabbit, async () => {
  const names = rabbitNames();
  const consumer = await consume(names.exchange, `${names.prefix}.#`);
  const pombo = await startPombo(rabbitEnv(names));
  try {
    const created = await pombo.api('POST', '/instance/create', { instanceName: 'born', integration: 'INGEST', rabbitmq: { enabled: true, events: ['INSTANCE_CREATE', 'MESSAGES_UPSERT'] } });
    assert.equal(created.status, 201);
    await pombo.api('POST', '/events/born', numberedEvent(1));
    await eventually(() => consumer.received.some((item) => item.body.event === 'messages.upsert'), 'the event after the creation');
    await pombo.pombo.context.dispatcher.whenIdle(`rabbitmq:${created.body.instance.instanceId}`);
    assert.deepEqual(keysOf(consumer.received), [`${names.prefix}.born.instance-create`, `${names.prefix}.born.messages-upsert`]);
    assert.deepEqual(consumer.received[0]?.body.data, { instanceName: 'born', instanceId: created.body.instance.instanceId });
  } finally {
    await consumer.close();
    await pombo.close();
    await cleanupRabbit(names.exchange, names.prefix, ['born']);
  }
});
