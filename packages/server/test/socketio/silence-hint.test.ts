import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../helpers/pombo-harness.ts';
import { ingest, namespaceUrl, withPombo } from './socket-helpers.ts';

const HINT = 'pombo.hint';

test("a client joining an instance's namespace while its websocket channel is off is told why it receives nothing, and how to turn it on", async () => {
  await withPombo({}, async (pombo, clients) => {
    const name = uniqueName('quiet');
    const { token } = await pombo.sandbox(name);
    const socket = await clients.connect(namespaceUrl(pombo, name), { auth: { apikey: token } });
    const hint = await clients.waitFor(socket, 'the hint', (item) => item.name === HINT);
    assert.equal(hint.payload.code, 'POMBO_HINT_WEBSOCKET_OFF');
    assert.match(hint.payload.message, new RegExp(`POST /websocket/set/${name} \\{"websocket":\\{"enabled":true\\}\\}`));

    // Following the hint works for the socket already connected.
    const set = await pombo.api('POST', `/websocket/set/${name}`, { websocket: { enabled: true } });
    assert.equal(set.status, 201, JSON.stringify(set.body));
    const [id] = await ingest(pombo, name, [{ event: 'MESSAGES_UPSERT', data: { key: { id: 'after-hint' } } }]);
    await clients.waitFor(socket, 'the event once enabled', (item) => item.name === 'messages.upsert' && item.payload.id === id);

    const second = await clients.connect(namespaceUrl(pombo, name), { auth: { apikey: token } });
    await ingest(pombo, name, [{ event: 'MESSAGES_UPSERT', data: {} }]);
    await clients.waitFor(second, 'an event', (item) => item.name === 'messages.upsert');
    assert.deepEqual(clients.received(second, HINT), [], 'no hint once the channel is on');
  });
});

test('a client joining "/" is told when nothing can reach it there (no instance enabled, WEBSOCKET_GLOBAL_EVENTS false), and not otherwise', async () => {
  await withPombo({}, async (pombo, clients) => {
    await pombo.sandbox(uniqueName('off'));
    const root = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey } });
    const hint = await clients.waitFor(root, 'the hint', (item) => item.name === HINT);
    assert.equal(hint.payload.code, 'POMBO_HINT_NO_GLOBAL_EVENTS');
    assert.match(hint.payload.message, /WEBSOCKET_GLOBAL_EVENTS/);
  });
  await withPombo({ WEBSOCKET_GLOBAL_EVENTS: 'true' }, async (pombo, clients) => {
    const name = uniqueName('global');
    await pombo.sandbox(name);
    const root = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey } });
    await ingest(pombo, name, [{ event: 'MESSAGES_UPSERT', data: {} }]);
    await clients.waitFor(root, 'the event under *', (item) => item.name === '*');
    assert.deepEqual(clients.received(root, HINT), []);
  });
});
