import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { uniqueName } from '../helpers/pombo-harness.ts';
import { ingest, namespaceUrl, pomboForFile, withPombo } from './socket-helpers.ts';

const shared = pomboForFile({ WEBSOCKET_GLOBAL_EVENTS: 'true' });

test('an instance token is refused on another instance\'s namespace and on "/", with a clear connect_error', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const { token: aliceToken } = await pombo.sandbox(alice, { websocket: { enabled: true } });
  await pombo.sandbox(bob, { websocket: { enabled: true } });

  const elsewhere = await clients.refused(namespaceUrl(pombo, bob), { auth: { apikey: aliceToken } });
  assert.equal(elsewhere.data?.code, 'POMBO_ERR_FORBIDDEN');
  assert.equal(elsewhere.message, `This key cannot access the "${bob}" instance`);

  const root = await clients.refused(pombo.url, { auth: { apikey: aliceToken } });
  assert.equal(root.data?.code, 'POMBO_ERR_FORBIDDEN');
  assert.match(root.message, new RegExp(`own namespace "/${alice}"`));

  // The same token is welcome in its own namespace, and sees its own events only.
  const own = await clients.connect(namespaceUrl(pombo, alice), { auth: { apikey: aliceToken } });
  await ingest(pombo, bob, [{ event: 'CHATS_UPSERT', data: [{ id: 'bob-chat' }] }]);
  await ingest(pombo, alice, [{ event: 'CHATS_UPSERT', data: [{ id: 'alice-chat' }] }]);
  await clients.waitFor(own, "alice's chats.upsert", (item) => item.payload.data[0].id === 'alice-chat');
  assert.deepEqual(clients.received(own).map((item) => item.payload.instance), [alice]);
});

test('a missing or wrong key is refused on "/" and in namespaces', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  await pombo.sandbox(alice, { websocket: { enabled: true } });
  for (const url of [pombo.url, namespaceUrl(pombo, alice)]) {
    for (const auth of [{}, { apikey: 'not-a-key' }, { apikey: `${pombo.apiKey}x` }]) {
      const error = await clients.refused(url, { auth });
      assert.equal(error.data?.code, 'POMBO_ERR_SOCKET_UNAUTHORIZED', `${url} with ${JSON.stringify(auth)}`);
      assert.match(error.message, /auth\.apikey/);
    }
  }
});

test('an unknown instance\'s namespace is refused by name, and a deleted instance\'s sockets are disconnected', async () => {
  const { pombo, clients } = shared;
  const ghost = uniqueName('ghost');
  const unknown = await clients.refused(namespaceUrl(pombo, ghost), { auth: { apikey: pombo.apiKey } });
  assert.equal(unknown.data?.code, 'POMBO_ERR_INSTANCE_NOT_FOUND');
  assert.equal(unknown.message, `The "${ghost}" instance does not exist`);

  const alice = uniqueName('alice');
  const { token } = await pombo.sandbox(alice, { websocket: { enabled: true } });
  const socket = await clients.connect(namespaceUrl(pombo, alice), { auth: { apikey: token } });
  const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve));
  assert.equal((await pombo.api('DELETE', `/instance/delete/${alice}`)).status, 200);
  assert.equal(await disconnected, 'io server disconnect');
  assert.deepEqual(
    clients.received(socket).map((item) => item.name),
    ['instance.delete', 'remove.instance'],
    'the deletion events arrive before the disconnection',
  );
  const again = await clients.refused(namespaceUrl(pombo, alice), { auth: { apikey: token } });
  assert.equal(again.data?.code, 'POMBO_ERR_SOCKET_UNAUTHORIZED', 'the deleted token no longer opens anything');
});

test('WEBSOCKET_ALLOWED_HOSTS refuses addresses it does not list, even with the global key', async () => {
  await withPombo({ WEBSOCKET_ALLOWED_HOSTS: '10.9.9.9' }, async (guarded, clients) => {
    const alice = uniqueName('alice');
    await guarded.sandbox(alice, { websocket: { enabled: true } });
    for (const url of [guarded.url, namespaceUrl(guarded, alice)]) {
      const error = await clients.refused(url, { auth: { apikey: guarded.apiKey } });
      assert.equal(error.data?.code, 'POMBO_ERR_HOST_NOT_ALLOWED');
      assert.match(error.message, /127\.0\.0\.1.*WEBSOCKET_ALLOWED_HOSTS/);
    }
  });
});

test('WEBSOCKET_ALLOWED_HOSTS never replaces the key: a listed address still needs one', async () => {
  await withPombo({ WEBSOCKET_ALLOWED_HOSTS: '10.9.9.9, 127.0.0.1,::1' }, async (guarded, clients) => {
    const alice = uniqueName('alice');
    const { token } = await guarded.sandbox(alice, { websocket: { enabled: true } });
    const error = await clients.refused(namespaceUrl(guarded, alice));
    assert.equal(error.data?.code, 'POMBO_ERR_SOCKET_UNAUTHORIZED');
    const socket = await clients.connect(namespaceUrl(guarded, alice), { auth: { apikey: token } });
    assert.ok(socket.connected);
  });
});

test('a WEBSOCKET_ALLOWED_HOSTS entry that is not an IP address stops the start with a message naming it', () => {
  const env = { AUTHENTICATION_API_KEY: 'k'.repeat(32), DATABASE_CONNECTION_URI: ':memory:', WEBSOCKET_ALLOWED_HOSTS: '127.0.0.1,localhost' };
  assert.throws(() => loadConfig(env, shared.pombo.dataDir), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /WEBSOCKET_ALLOWED_HOSTS has "localhost", which is not an IP address/);
    return true;
  });
});
