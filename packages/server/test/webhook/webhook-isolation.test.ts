import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { receiverFor } from './http-receiver.ts';
import { emit, FAST_RETRIES, instanceWithWebhook, message } from './webhook-fixtures.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo({
    ...FAST_RETRIES,
    WEBHOOK_REQUEST_TIMEOUT_MS: '30000',
    WEBHOOK_RETRY_MAX_ATTEMPTS: '1000',
    WEBHOOK_CIRCUIT_FAILURE_THRESHOLD: '3',
    WEBHOOK_CIRCUIT_COOLDOWN_SECONDS: '0.3',
    WEBHOOK_CIRCUIT_MAX_COOLDOWN_SECONDS: '1',
  });
});
after(() => pombo.close());

const find = async (name: string) => (await pombo.api('GET', `/webhook/find/${name}`)).body;
const texts = (count: number, jid = 'a@s.whatsapp.net', prefix = 'm') => Array.from({ length: count }, (_, i) => message(jid, `${prefix}${i}`));

test('a hanging endpoint and a paused one never delay a healthy endpoint', async (t) => {
  const hanging = await receiverFor(t, () => ({ hang: true }));
  const failing = await receiverFor(t, () => ({ status: 500 }));
  const healthy = await receiverFor(t);
  const slow = await instanceWithWebhook(pombo, { url: hanging.url });
  const dead = await instanceWithWebhook(pombo, { url: failing.url });
  const good = await instanceWithWebhook(pombo, { url: healthy.url });
  await emit(pombo, slow, texts(20));
  await emit(pombo, dead, texts(20));
  await eventually(async () => (await find(dead.name)).state.health === 'paused', 'the failing endpoint paused');
  const ids = await emit(pombo, good, texts(20));
  await eventually(() => healthy.accepted().length === 20, 'every event on the healthy endpoint');
  assert.deepEqual(new Set(healthy.deliveredIds()), new Set(ids));
  assert.equal(hanging.accepted().length, 0, 'the hanging endpoint has answered nothing yet (its timeout is 30 s)');
  assert.equal(hanging.requests.length, 16, 'and holds at most WEBHOOK_MAX_IN_FLIGHT requests');
  const state = await find(dead.name);
  assert.equal(state.state.health, 'paused');
  assert.equal(state.state.lastError, 'HTTP 500');
  await pombo.api('POST', `/webhook/set/${slow.name}`, { webhook: { enabled: false } });
  await pombo.api('POST', `/webhook/set/${dead.name}`, { webhook: { enabled: false } });
});

test('a paused endpoint is probed and, once it answers, resumes and gets every event', async (t) => {
  let up = false;
  const receiver = await receiverFor(t, () => ({ status: up ? 200 : 503 }));
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  const ids = await emit(pombo, instance, texts(5));
  const paused = await eventually(async () => {
    const found = await find(instance.name);
    return found.state.health === 'paused' && found;
  }, 'the circuit open');
  assert.equal(paused.state.lastError, 'HTTP 503');
  assert.ok(paused.state.consecutiveFailures >= 3);
  const whilePaused = receiver.requests.length;
  assert.ok(whilePaused < 10, `the breaker stopped sending after a few failures (${whilePaused} requests)`);
  up = true;
  await eventually(() => receiver.accepted().length === 5, 'every event after the probe succeeded');
  assert.deepEqual(new Set(receiver.deliveredIds()), new Set(ids));
  const resumed = await find(instance.name);
  assert.equal(resumed.state.health, 'healthy');
  assert.equal(resumed.state.lastError, null);
});

test('ordering chat: a failing chat waits for its retry while other chats keep flowing', async (t) => {
  const chatA = 'a@s.whatsapp.net';
  const chatB = 'b@s.whatsapp.net';
  const receiver = await receiverFor(t, (request, all) => {
    const isFirstOfA = request.json.data.key.id === 'MSG-a0';
    const bDone = all.filter((r) => r.json.data.key.remoteJid === chatB).length >= 3;
    // A's first event fails until every event of chat B has arrived: B must not wait behind A.
    return { status: isFirstOfA && !bDone ? 500 : 200 };
  });
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, ordering: 'chat' });
  await emit(pombo, instance, [...texts(3, chatA, 'a'), ...texts(3, chatB, 'b')]);
  await eventually(() => receiver.accepted().length === 6, 'all six events');
  const keys = receiver.requests.map((request) => request.json.data.key.id as string);
  const acceptedKeys = receiver.accepted().map((request) => request.json.data.key.id as string);
  assert.deepEqual(acceptedKeys.filter((key) => key.startsWith('MSG-a')), ['MSG-a0', 'MSG-a1', 'MSG-a2'], 'chat A in order');
  assert.deepEqual(acceptedKeys.filter((key) => key.startsWith('MSG-b')), ['MSG-b0', 'MSG-b1', 'MSG-b2'], 'chat B in order');
  assert.ok(keys.filter((key) => key === 'MSG-a0').length >= 2, 'A0 failed at least once');
  assert.ok(keys.indexOf('MSG-a1') > keys.lastIndexOf('MSG-a0'), 'A1 was not sent before A0 succeeded');
});

test('ordering instance: a retry holds back every later event of the instance', async (t) => {
  const receiver = await receiverFor(t, (request, all) => ({ status: request.json.data.key.id === 'MSG-i0' && all.length === 1 ? 500 : 200 }));
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, ordering: 'instance' });
  const ids = await emit(pombo, instance, [...texts(2, 'a@s.whatsapp.net', 'i'), ...texts(2, 'b@s.whatsapp.net', 'j')]);
  await eventually(() => receiver.accepted().length === 4, 'all four events');
  assert.deepEqual(receiver.deliveredIds(), ids);
  assert.deepEqual(receiver.requests.map((request) => request.json.id), [ids[0], ...ids]);
});
