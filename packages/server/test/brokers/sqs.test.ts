import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireService, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { drained, phone } from './broker-test-helpers.ts';
import { queueNameOf } from '../../src/channels/sqs/sqs-queues.ts';
import { readSqsSettings } from '../../src/config/sqs-settings.ts';
import { EnvReader } from '../../src/config/env-reader.ts';
import type { BrokerMessage } from '../../src/channels/broker/broker-channel.ts';
import { attribute, deleteQueue, queueNames, receiveUntil, sqsAvailable, sqsEnv } from './sqs-queue-reader.ts';

const needsSqs = requireService(await sqsAvailable(), 'An SQS-compatible server on 127.0.0.1:9324', 'run scripts/services/sqs.sh');

async function ingestInstance(pombo: Harness, sqs: Record<string, unknown>): Promise<{ name: string; token: string }> {
  const name = uniqueName('ingest');
  const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', sqs });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { name, token: created.body.hash };
}

const message = (n: number, chat = 'chat-a') => ({
  event: 'MESSAGES_UPSERT',
  data: { key: { remoteJid: `${chat}@s.whatsapp.net`, id: `M${n}` }, message: { conversation: `n=${n}` }, n },
});

test('sandbox events arrive on the seed queues evolution-{instance}-{event}, with id attributes, filtered per instance', needsSqs, async () => {
  const pombo = await startPombo(sqsEnv());
  try {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const bobNumber = phone();
    await pombo.sandbox(alice, { sqs: { enabled: true, events: ['SEND_MESSAGE'] } });
    await pombo.sandbox(bob, { number: bobNumber, sqs: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    await pombo.api('POST', `/message/sendText/${alice}`, { number: bobNumber, text: 'Olá, SQS' });

    const [upsert] = await receiveUntil(`evolution-${bob}-messages-upsert`, (all) => all.length >= 1);
    assert.ok(upsert);
    assert.equal(upsert.body.event, 'messages.upsert');
    assert.equal(upsert.body.instance, bob);
    assert.equal(upsert.body.dataType, 'json');
    assert.equal(upsert.body.data.message.conversation, 'Olá, SQS');
    assert.equal(attribute(upsert, 'event-id'), upsert.body.id);
    assert.equal(attribute(upsert, 'event'), 'messages.upsert');
    assert.equal(attribute(upsert, 'instance'), bob);
    const [sent] = await receiveUntil(`evolution-${alice}-send-message`, (all) => all.length >= 1);
    assert.equal(sent?.body.event, 'send.message');

    const found = await drained(pombo, 'sqs', alice);
    assert.equal(found.state.connection, 'connected');
    await drained(pombo, 'sqs', bob);
    assert.deepEqual(await queueNames(`evolution-${alice}`), [`evolution-${alice}-send-message`], 'no queue for filtered events');
    assert.deepEqual(await queueNames(`evolution-${bob}`), [`evolution-${bob}-messages-upsert`]);
  } finally {
    await pombo.close();
  }
});

test('FIFO queues (per-instance fifo: true): group per chat, event id as deduplication id, each chat in order', needsSqs, async () => {
  const pombo = await startPombo(sqsEnv());
  try {
    const { name } = await ingestInstance(pombo, { enabled: true, fifo: true, ordering: 'chat', events: ['MESSAGES_UPSERT'] });
    const events = Array.from({ length: 25 }, (_, n) => message(n, n % 2 ? 'chat-b' : 'chat-a'));
    const posted = await pombo.api('POST', `/events/${name}`, { events });
    assert.equal(posted.status, 201);
    const queue = `evolution-${name}-messages-upsert.fifo`;
    const received = await receiveUntil(queue, (all) => new Set(all.map((r) => r.body.id)).size >= 25);
    for (const chat of ['chat-a', 'chat-b']) {
      const ofChat = received.filter((r) => r.body.data.key.remoteJid === `${chat}@s.whatsapp.net`);
      const numbers = ofChat.map((r) => r.body.data.n);
      assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), `${chat} in order`);
      for (const r of ofChat) {
        assert.equal(r.message.Attributes?.MessageGroupId, `${name}/${chat}@s.whatsapp.net`);
        assert.equal(r.message.Attributes?.MessageDeduplicationId, r.body.id);
      }
    }
    assert.equal((await pombo.api('GET', `/sqs/find/${name}`)).body.fifo, true);
  } finally {
    await pombo.close();
  }
});

test('global mode: a queue per event with Evolution SQS_GLOBAL_<EVENT> toggles, or one queue with SQS_GLOBAL_FORCE_SINGLE_QUEUE', needsSqs, async () => {
  const prefix = uniqueName('q').replace('-', '');
  const perEvent = await startPombo({ ...sqsEnv(), SQS_QUEUE_PREFIX: prefix, SQS_GLOBAL_ENABLED: 'true', SQS_GLOBAL_MESSAGES_UPSERT: 'true', SQS_GLOBAL_SEND_MESSAGE: 'false' });
  const single = await startPombo({ ...sqsEnv(), SQS_QUEUE_PREFIX: `${prefix}s`, SQS_GLOBAL_ENABLED: 'true', SQS_GLOBAL_FORCE_SINGLE_QUEUE: 'true' });
  try {
    for (const pombo of [perEvent, single]) {
      const alice = uniqueName('alice');
      const bobNumber = phone();
      await pombo.sandbox(alice);
      await pombo.sandbox(uniqueName('bob'), { number: bobNumber });
      await pombo.api('POST', `/message/sendText/${alice}`, { number: bobNumber, text: 'global' });
    }
    const [upsert] = await receiveUntil(`${prefix}-global-messages-upsert`, (all) => all.length >= 1);
    assert.equal(upsert?.body.event, 'messages.upsert');
    await perEvent.pombo.context.dispatcher.whenIdle('sqs:global');
    assert.deepEqual(await queueNames(`${prefix}-`), [`${prefix}-global-messages-upsert`], 'SEND_MESSAGE and the rest are off');

    const all = await receiveUntil(`${prefix}s-global`, (received) => ['send.message', 'messages.upsert', 'messages.update'].every((event) => received.some((r) => r.body.event === event)));
    assert.ok(all.length >= 3);
    assert.deepEqual(await queueNames(`${prefix}s-`), [`${prefix}s-global`]);
  } finally {
    await perEvent.close();
    await single.close();
  }
});

test('an event over SQS_MAX_PAYLOAD_SIZE arrives as a reference that resolves; a queue deleted behind Pombo is created again', needsSqs, async () => {
  const pombo = await startPombo({ ...sqsEnv(), SQS_MAX_PAYLOAD_SIZE: '4096' });
  try {
    const { name, token } = await ingestInstance(pombo, { enabled: true });
    const big = { key: { remoteJid: 'x@s.whatsapp.net', id: 'BIG' }, message: { conversation: 'ç'.repeat(5000) } };
    const large = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: big });
    const queue = `evolution-${name}-messages-upsert`;
    const [reference] = await receiveUntil(queue, (all) => all.length >= 1);
    assert.equal(reference?.body.dataType, 'reference');
    assert.equal(reference?.body.id, large.body.id);
    assert.equal(reference?.body.data, undefined);
    const fetched = await pombo.api('GET', new URL(reference?.body.fetch).pathname, undefined, token);
    assert.equal(fetched.status, 200);
    assert.deepEqual(fetched.body.data, big);

    await deleteQueue(queue);
    const after = await pombo.api('POST', `/events/${name}`, message(1));
    const [again] = await receiveUntil(queue, (all) => all.length >= 1);
    assert.equal(again?.body.id, after.body.id);
  } finally {
    await pombo.close();
  }
});

test('SQS_BASE_URL, Evolution API’s name for the endpoint, reaches the same server as SQS_ENDPOINT_URL', needsSqs, async () => {
  const { SQS_ENDPOINT_URL: endpoint, ...rest } = sqsEnv();
  const pombo = await startPombo({ ...rest, SQS_BASE_URL: endpoint ?? '' });
  try {
    const { name } = await ingestInstance(pombo, { enabled: true, events: ['MESSAGES_UPSERT'] });
    assert.equal((await pombo.api('POST', `/events/${name}`, message(1))).status, 201);
    const [received] = await receiveUntil(`evolution-${name}-messages-upsert`, (all) => all.length >= 1);
    assert.equal(received?.body.data.n, 1);
  } finally {
    await pombo.close();
  }
  const settings = readSqsSettings(new EnvReader({ SQS_REGION: 'us-east-1', SQS_BASE_URL: 'http://localhost:4566' }));
  assert.equal(settings.endpoint, 'http://localhost:4566');
  await assert.rejects(
    startPombo({ SQS_ENABLED: 'true', SQS_REGION: 'us-east-1', SQS_ENDPOINT_URL: 'http://a:9324', SQS_BASE_URL: 'http://b:9324' }),
    /SQS_ENDPOINT_URL="http:\/\/a:9324" and SQS_BASE_URL="http:\/\/b:9324" name two servers/,
  );
});

test('bad SQS variables stop the boot with a message naming each', async () => {
  // A toggle no event has (a typo, or another Evolution version's event) is ignored with a boot warning, not refused.
  const typo = new EnvReader({ SQS_GLOBAL_MESAGES_UPSERT: 'true', SQS_GLOBAL_CALL: 'true' });
  assert.deepEqual([...typo.eventToggles(['SQS_GLOBAL_', 'SQS_EVENTS_'])], ['CALL']);
  assert.deepEqual([...typo.unknownToggles], ['SQS_GLOBAL_MESAGES_UPSERT']);
  await assert.rejects(
    startPombo({ SQS_ENABLED: 'true', SQS_ACCESS_KEY_ID: 'only-the-id', SQS_MAX_PAYLOAD_SIZE: '10', SQS_QUEUE_PREFIX: 'a.b' }),
    (error: Error) =>
      /SQS_REGION is required/.test(error.message) &&
      /SQS_ACCESS_KEY_ID and SQS_SECRET_ACCESS_KEY go together/.test(error.message) &&
      /SQS_MAX_PAYLOAD_SIZE="10"/.test(error.message) &&
      /SQS_QUEUE_PREFIX="a.b"/.test(error.message),
  );
});

test('queue names longer than SQS allows are shortened with a hash, never shared', () => {
  const settings = readSqsSettings(new EnvReader({ SQS_REGION: 'us-east-1' }));
  const of = (instance: string, fifo: boolean) =>
    queueNameOf(settings, { scope: 'instance', event: { instance, event: 'GROUP_PARTICIPANTS_UPDATE' } } as unknown as BrokerMessage, fifo);
  assert.equal(of('minha-instancia', false), 'evolution-minha-instancia-group-participants-update');
  const long = 'x'.repeat(60);
  const [a, b, fifo] = [of(`${long}-a`, false), of(`${long}-b`, false), of(`${long}-a`, true)];
  assert.ok(a.length <= 80 && fifo.length <= 80, `${a} / ${fifo}`);
  assert.notEqual(a, b);
  assert.ok(fifo.endsWith('.fifo'));
  assert.match(a, /^evolution-x+-[0-9a-f]{8}$/);
});
