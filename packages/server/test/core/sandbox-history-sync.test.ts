import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { startReceiver, type Receiver } from '../webhook/http-receiver.ts';
import { assertError, logOf } from './http-assert.ts';

let pombo: Harness;
let receiver: Receiver;
before(async () => {
  receiver = await startReceiver();
  pombo = await startPombo();
});
after(async () => {
  await pombo.close();
  await receiver.close();
});

test('a number that links again gets its history as MESSAGES_SET chunks with isLatest and progress in the envelope', async () => {
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const bobNumber = `55119${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
  await pombo.sandbox(alice);
  await pombo.sandbox(bob, { number: bobNumber, webhook: { enabled: true, url: `${receiver.url}/bob`, events: ['MESSAGES_SET'] } });
  for (let n = 1; n <= 60; n++) {
    const sent = await pombo.api('POST', `/message/sendText/${alice}`, { number: bobNumber, text: `n=${n}` });
    assert.equal(sent.status, 201);
  }
  assert.equal((await pombo.api('POST', `/message/sendText/${bob}`, { number: (await pombo.api('GET', `/instance/fetchInstances?instanceName=${alice}`)).body[0].number, text: 'reply' })).status, 201);
  assert.deepEqual((await logOf(pombo, bob, '&events=MESSAGES_SET')).length, 0, 'no history on the first link');

  await pombo.api('DELETE', `/instance/logout/${bob}`);
  assert.equal((await pombo.api('GET', `/instance/connect/${bob}`)).status, 200);

  const sets = await logOf(pombo, bob, '&events=MESSAGES_SET');
  assert.deepEqual(sets.map((e) => [e.data.length, e.isLatest, e.progress]), [[50, false, 82], [11, true, 100]]);
  const history = sets.flatMap((e) => e.data);
  assert.equal(history[0].message.conversation, 'n=1', 'oldest first');
  assert.equal(history[59].message.conversation, 'n=60');
  assert.equal(history[60].message.conversation, 'reply');
  assert.equal(history[60].key.fromMe, true);
  assert.equal(history[0].key.fromMe, false);
  assert.equal(history[60].status, 'READ', 'a message carries its last status');
  assert.equal('MessageUpdate' in history[0], false);
  const [first] = sets;
  assert.deepEqual(Object.keys(first).slice(0, 3), ['isLatest', 'progress', 'id'], 'the extras come first, as Evolution API spreads them');

  await eventually(() => receiver.requests.length >= 2, 'the two MESSAGES_SET webhook requests');
  const bodies = receiver.requests.map((r) => r.json);
  assert.deepEqual(bodies.map((b) => [b.event, b.isLatest, b.progress, b.data.length]), [['messages.set', false, 82, 50], ['messages.set', true, 100, 11]]);

  const found = await pombo.api('POST', `/chat/findMessages/${bob}`, {});
  assert.equal(found.body.messages.total, 61, 'history does not double the messages findMessages lists');
});

test('an ingested messages.set keeps Evolution’s isLatest and progress; bad values are a 400', async () => {
  const name = uniqueName('ingest');
  await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
  const payload = {
    event: 'messages.set',
    instance: name,
    data: [{ key: { remoteJid: '5511911112222@s.whatsapp.net', fromMe: false, id: 'H1' }, message: { conversation: 'old' }, messageTimestamp: 1_700_000_000 }],
    date_time: '2025-01-31T12:00:00.000Z',
    server_url: 'https://evolution.example',
    apikey: null,
    isLatest: true,
    progress: 100,
  };
  assert.equal((await pombo.api('POST', `/events/${name}`, payload)).status, 201);
  const [set] = await logOf(pombo, name, '&events=MESSAGES_SET');
  assert.equal(set.isLatest, true);
  assert.equal(set.progress, 100);
  assert.equal((await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_SET', data: [], progress: null, isLatest: false })).status, 201);
  const last = (await logOf(pombo, name, '&events=MESSAGES_SET')).at(-1);
  assert.deepEqual([last.isLatest, last.progress], [false, null]);
  assertError(await pombo.api('POST', `/events/${name}`, { ...payload, progress: 101 }), 400, 'POMBO_ERR_VALIDATION', /progress/);
  assertError(await pombo.api('POST', `/events/${name}`, { ...payload, isLatest: 'yes' }), 400, 'POMBO_ERR_VALIDATION', /isLatest/);
  const upsert = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { key: { id: 'x' } } });
  assert.equal(upsert.status, 201);
  const plain = (await logOf(pombo, name, '&events=MESSAGES_UPSERT'))[0];
  assert.equal('isLatest' in plain, false, 'an event without extras has none in its envelope');
});
