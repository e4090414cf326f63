import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';
import { Clients, ingest, namespaceUrl, withPombo } from './socket-helpers.ts';

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

test('the server logs the hint at info, naming the namespace and the code (what an operator reads when a client says it gets nothing)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-hint-log-'));
  const key = 'hint-log-key';
  const pombo = await spawnPombo({ LOG_LEVEL: 'info', AUTHENTICATION_API_KEY: key, DATA_DIR: dir }, await freePort());
  const clients = new Clients();
  try {
    const created = await fetch(`${pombo.url}/instance/create`, {
      method: 'POST',
      headers: { apikey: key, 'content-type': 'application/json' },
      body: JSON.stringify({ instanceName: 'quiet-log', qrcode: true }),
    });
    assert.equal(created.status, 201);
    await clients.connect(`${pombo.url}/quiet-log`, { auth: { apikey: key } });
    const line = await eventually(
      () => pombo.stdout().split('\n').find((entry) => entry.includes('POMBO_HINT_WEBSOCKET_OFF')),
      'the hint in the log',
    );
    const entry = JSON.parse(line);
    assert.equal(entry.level, 30, 'info');
    assert.equal(entry.namespace, '/quiet-log');
    assert.match(entry.msg, /POST \/websocket\/set\/quiet-log/);
  } finally {
    clients.closeAll();
    await pombo.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
