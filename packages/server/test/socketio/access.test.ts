import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { createPombo } from '../../src/pombo.ts';
import { uniqueName } from '../helpers/pombo-harness.ts';
import { ingest, namespaceUrl, pomboForFile, withPombo } from './socket-helpers.ts';

const shared = pomboForFile({ WEBSOCKET_GLOBAL_EVENTS: 'true' });

test('an instance token is refused on another instance\'s namespace with a clear connect_error, and admitted on "/"', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const { token: aliceToken } = await pombo.sandbox(alice, { websocket: { enabled: true } });
  await pombo.sandbox(bob, { websocket: { enabled: true } });

  const elsewhere = await clients.refused(namespaceUrl(pombo, bob), { auth: { apikey: aliceToken } });
  assert.equal(elsewhere.data?.code, 'POMBO_ERR_FORBIDDEN');
  assert.equal(elsewhere.message, `This key cannot access the "${bob}" instance`);

  // On "/" it gets its own instance's events only (root-instance-token.test.ts); it was refused there before.
  const root = await clients.connect(pombo.url, { auth: { apikey: aliceToken } });
  assert.ok(root.connected);

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
  // An instance token learns nothing of other names: one that does not exist is refused as one that does.
  const probe = await clients.refused(namespaceUrl(pombo, ghost), { auth: { apikey: token } });
  assert.equal(probe.data?.code, 'POMBO_ERR_FORBIDDEN');
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

/** Seed 001's line, copied by Evolution API users: in Evolution API, the addresses that need no key. */
const SEED_ALLOWED_HOSTS = '127.0.0.1,::1,::ffff:127.0.0.1';

test("seed 001's WEBSOCKET_ALLOWED_HOSTS has no effect: a client from an unlisted address connects with a key, and no client without one", async () => {
  await withPombo({ WEBSOCKET_ALLOWED_HOSTS: SEED_ALLOWED_HOSTS }, async (pombo, clients) => {
    const alice = uniqueName('alice');
    const { token } = await pombo.sandbox(alice, { websocket: { enabled: true } });
    // 127.0.0.2 reaches the server over loopback too (Linux), from an address the list does not hold.
    const unlisted = { localAddress: '127.0.0.2' };
    for (const [url, apikey] of [[pombo.url, pombo.apiKey], [namespaceUrl(pombo, alice), token]] as const) {
      const socket = await clients.connect(url, { ...unlisted, auth: { apikey } });
      assert.ok(socket.connected, `${url} from 127.0.0.2 with a key`);
      for (const from of [unlisted, {}]) {
        const error = await clients.refused(url, from);
        assert.equal(error.data?.code, 'POMBO_ERR_SOCKET_UNAUTHORIZED', `${url} without a key from ${JSON.stringify(from)}`);
      }
    }
    const websocket = pombo.pombo.context.channels.get('websocket');
    const addresses = (websocket?.clients?.() ?? []).map((client) => client.address ?? '');
    assert.equal(addresses.length, 2);
    for (const address of addresses) assert.match(address, /^(::ffff:)?127\.0\.0\.2$/, 'the server saw the unlisted address');
  });
});

test('WEBSOCKET_ALLOWED_HOSTS is accepted whatever it holds, and the start says once that it has no effect', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-allowed-hosts-'));
  const lines: string[] = [];
  try {
    // Third-party Evolution API guides write `*` or host names: Evolution API starts with them, so Pombo does too.
    const env = { AUTHENTICATION_API_KEY: 'k'.repeat(32), DATABASE_CONNECTION_URI: ':memory:', WEBSOCKET_ALLOWED_HOSTS: `${SEED_ALLOWED_HOSTS},localhost,*` };
    const pombo = await createPombo(loadConfig(env, dir), createLogger('info', { write: (line: string) => void lines.push(line) }));
    await pombo.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const notices = lines.map((line) => JSON.parse(line)).filter((record) => /WEBSOCKET_ALLOWED_HOSTS/.test(record.msg));
  assert.equal(notices.length, 1);
  assert.equal(notices[0].level, 40, 'a warning');
  assert.match(notices[0].msg, /no effect: Pombo asks every Socket\.IO connection for a key, from any address/);
  assert.equal(notices[0].WEBSOCKET_ALLOWED_HOSTS, `${SEED_ALLOWED_HOSTS},localhost,*`);
});
