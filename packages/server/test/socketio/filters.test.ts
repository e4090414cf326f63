import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../helpers/pombo-harness.ts';
import { ingest, namespaceUrl, numbered, pomboForFile, withPombo } from './socket-helpers.ts';

const shared = pomboForFile();

test('POST /websocket/set chooses an instance\'s events live (no reconnect), and /websocket/find shows the config', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const { token } = await pombo.sandbox(alice);
  const socket = await clients.connect(namespaceUrl(pombo, alice), { auth: { apikey: token } });
  const ns = (name: string) => clients.received(socket).filter((item) => item.name === name);

  const set = await pombo.api('POST', `/websocket/set/${alice}`, { websocket: { enabled: true, events: ['messages.upsert'] } }, token);
  assert.equal(set.status, 201);
  assert.deepEqual(set.body.events, ['MESSAGES_UPSERT']);
  const find = await pombo.api('GET', `/websocket/find/${alice}`, undefined, token);
  assert.deepEqual(
    { enabled: find.body.enabled, events: find.body.events, channelEnabled: find.body.channelEnabled },
    { enabled: true, events: ['MESSAGES_UPSERT'], channelEnabled: true },
  );

  await ingest(pombo, alice, [{ event: 'CONTACTS_UPSERT', data: [{ id: 'c' }] }, ...numbered(1, 1)]);
  await clients.waitFor(socket, 'message 1', (item) => item.payload.data?.n === 1);

  await pombo.api('POST', `/websocket/set/${alice}`, { websocket: { enabled: false } });
  await ingest(pombo, alice, numbered(2, 1));
  await pombo.api('POST', `/websocket/set/${alice}`, { websocket: { enabled: true, events: ['MESSAGES_UPSERT', 'CONTACTS_UPSERT'] } });
  await ingest(pombo, alice, [...numbered(3, 1), { event: 'CONTACTS_UPSERT', data: [{ id: 'd' }] }]);
  await clients.waitFor(socket, 'contact d', (item) => item.payload.data?.[0]?.id === 'd');

  assert.deepEqual(ns('messages.upsert').map((item) => item.payload.data.n), [1, 3], 'message 2 was sent while the channel was disabled');
  assert.deepEqual(ns('contacts.upsert').map((item) => item.payload.data[0].id), ['d']);
  // The socket joined while the channel was off: it was told so first (silence-hint.test.ts).
  assert.deepEqual(clients.received(socket).map((item) => item.name), ['pombo.hint', 'messages.upsert', 'messages.upsert', 'contacts.upsert']);
});

test('/websocket/set names a bad event in a 400, and an instance token cannot configure another instance', async () => {
  const { pombo } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const { token } = await pombo.sandbox(alice);
  await pombo.sandbox(bob);
  const bad = await pombo.api('POST', `/websocket/set/${alice}`, { websocket: { enabled: true, events: ['MESSAGES_UPSERT', 'NOPE'] } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'POMBO_ERR_UNKNOWN_EVENT');
  const other = await pombo.api('POST', `/websocket/set/${bob}`, { websocket: { enabled: true } }, token);
  assert.equal(other.status, 403);
});

test('with WEBSOCKET_ENABLED=false no Socket.IO server answers, and /websocket/find says how to enable it', async () => {
  await withPombo({ WEBSOCKET_ENABLED: 'false' }, async (off, clients) => {
    const alice = uniqueName('alice');
    await off.sandbox(alice, { websocket: { enabled: true } });
    const error = await clients.refused(off.url, { auth: { apikey: off.apiKey }, transports: ['polling'] });
    assert.equal(error.data, undefined, 'refused by the HTTP server, not by Socket.IO');
    const find = await off.api('GET', `/websocket/find/${alice}`);
    assert.equal(find.body.enabled, true);
    assert.equal(find.body.channelEnabled, false);
    assert.match(find.body.hint, /WEBSOCKET_ENABLED/);
  });
});
