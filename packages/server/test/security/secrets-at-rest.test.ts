import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { startPombo, uniqueName } from '../helpers/pombo-harness.ts';
import { startReceiver } from '../webhook/http-receiver.ts';
import { assertError } from '../core/http-assert.ts';

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);

test('the data folder is 700 and every file Pombo writes in it 600: database, WAL, shared memory, media, API key', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'pombo-perm-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const previous = process.umask(0o022); // a usual umask: without explicit modes, files would be 644
  t.after(() => process.umask(previous));

  const dataDir = join(root, 'data');
  const pombo = await startPombo({}, dataDir);
  t.after(() => pombo.close());
  const alice = uniqueName('perm');
  await pombo.sandbox(alice);
  await pombo.sandbox(uniqueName('perm-b'), { number: '5511955554444' });
  const sent = await pombo.api('POST', `/message/sendMedia/${alice}`, { number: '5511955554444', mediatype: 'document', media: Buffer.from('secret bytes').toString('base64') });
  assert.equal(sent.status, 201, JSON.stringify(sent.body));

  assert.equal(modeOf(dataDir), '700');
  for (const file of ['pombo.db', 'pombo.db-wal', 'pombo.db-shm']) {
    assert.ok(existsSync(join(dataDir, file)), file);
    assert.equal(modeOf(join(dataDir, file)), '600', file);
  }
  assert.equal(modeOf(join(dataDir, 'media')), '700');
  const media = readdirSync(join(dataDir, 'media'));
  assert.equal(media.length, 1);
  assert.equal(modeOf(join(dataDir, 'media', media[0] ?? '')), '600');

  const cwd = join(root, 'fresh');
  mkdirSync(cwd);
  const config = loadConfig({ LOG_LEVEL: 'silent' }, cwd);
  assert.equal(config.auth.apiKeyGenerated, true);
  assert.equal(modeOf(join(cwd, 'data')), '700');
  assert.equal(modeOf(join(cwd, 'data', 'api-key')), '600');
});

test('a data folder left readable by an older start is narrowed at boot', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'pombo-perm-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dataDir = join(root, 'data');
  const first = await startPombo({}, dataDir);
  await first.sandbox(uniqueName('old'));
  await first.close();
  chmodSync(dataDir, 0o755);
  for (const file of ['pombo.db', 'pombo.db-wal', 'pombo.db-shm']) if (existsSync(join(dataDir, file))) chmodSync(join(dataDir, file), 0o644);
  writeFileSync(join(dataDir, 'api-key'), 'an-old-key-0123456789\n', { mode: 0o644 });

  const again = await startPombo({}, dataDir);
  t.after(() => again.close());
  assert.equal(modeOf(dataDir), '700');
  assert.equal(modeOf(join(dataDir, 'pombo.db')), '600');
  for (const file of ['pombo.db-wal', 'pombo.db-shm']) if (existsSync(join(dataDir, file))) assert.equal(modeOf(join(dataDir, file)), '600', file);
  loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: dataDir, DATABASE_PROVIDER: 'postgresql', DATABASE_CONNECTION_URI: 'postgresql://127.0.0.1/test' }, root);
  assert.equal(modeOf(join(dataDir, 'api-key')), '600');
});

test('find masks credentials inside the webhook URL; they still reach the receiver as Basic auth', async (t) => {
  const pombo = await startPombo();
  t.after(() => pombo.close());
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const name = uniqueName('urlcred');
  const { token } = await pombo.sandbox(name);
  const url = receiver.url.replace('http://', 'http://hook-user:pa55-w0rd-xyz@') + '/in?token=query-secret-123&tenant=acme';
  const set = await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url, events: ['SEND_MESSAGE'] } }, token);
  assert.equal(set.status, 201, JSON.stringify(set.body));
  for (const shown of [set.body, (await pombo.api('GET', `/webhook/find/${name}`, undefined, token)).body]) {
    const text = JSON.stringify(shown);
    assert.ok(!text.includes('pa55-w0rd-xyz') && !text.includes('query-secret-123'), text);
    assert.equal(shown.url, receiver.url.replace('http://', 'http://hook-user:***@') + '/in?token=***&tenant=acme');
  }
  // What find showed, sent back, stands for the stored URL (a settings page saved again); another masked URL is refused.
  const masked = (await pombo.api('GET', `/webhook/find/${name}`)).body.url;
  assert.equal((await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: masked, events: ['SEND_MESSAGE'] } })).status, 201);
  assertError(await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: masked.replace('tenant=acme', 'tenant=other') } }), 400, 'POMBO_ERR_VALIDATION', /masked/);

  await pombo.sandbox(uniqueName('urlcred-b'), { number: '5511944443333' });
  assert.equal((await pombo.api('POST', `/message/sendText/${name}`, { number: '5511944443333', text: 'hi' }, token)).status, 201);
  const deadline = Date.now() + 5000;
  while (receiver.requests.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const request = receiver.requests[0];
  assert.ok(request, 'the webhook was called');
  assert.equal(request.url, '/in?token=query-secret-123&tenant=acme');
  assert.equal(request.headers.authorization, `Basic ${Buffer.from('hook-user:pa55-w0rd-xyz').toString('base64')}`);
});
