import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startPombo, uniqueName } from '../../server/test/helpers/pombo-harness.ts';

const run = promisify(execFile);
const SDK = fileURLToPath(new URL('..', import.meta.url));
const WS = fileURLToPath(new URL('../../../node_modules/ws', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/**
 * What a user of the published package runs, in plain Node (no tsx): construct a client, create an
 * instance, subscribe, receive the event it publishes, and verify a webhook signature (and refuse a
 * tampered body). `load` is the ESM import or the CommonJS require of '@pombo/sdk'.
 */
const consumer = (load: string): string => `${load}
const crypto = require_crypto();
const { POMBO_URL, POMBO_KEY, INSTANCE } = process.env;
async function main() {
  const client = new PomboClient({ baseUrl: POMBO_URL, apiKey: POMBO_KEY });
  await client.instances.create({ instanceName: INSTANCE });
  const sub = await client.events.subscribe({ instanceId: INSTANCE, events: ['Message'] });
  const received = new Promise((resolve) => sub.on('Message', (evt) => resolve(evt.id)));
  const [published] = (await client.events.publish(INSTANCE, [{ event: 'MESSAGES_UPSERT', data: { key: { id: 'm1' } } }])).events;
  const receivedId = await received;
  await sub.close();

  const key = crypto.randomBytes(24);
  const body = JSON.stringify({ event: 'messages.upsert', instance: INSTANCE });
  const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)) };
  headers['webhook-signature'] = 'v1,' + crypto.createHmac('sha256', key).update(headers['webhook-id'] + '.' + headers['webhook-timestamp'] + '.' + body).digest('base64');
  const secret = 'whsec_' + key.toString('base64');
  const verified = await verifyWebhook(body, headers, secret);
  const tampered = await verifyWebhook(body + ' ', headers, secret).then(() => 'accepted', (error) => error instanceof WebhookVerificationError ? 'refused' : String(error));
  console.log(JSON.stringify({ published: published.id, receivedId, verifiedInstance: verified.instance, tampered }));
}
main().then(() => process.exit(0), (error) => { console.error(error); process.exit(1); });
`;

const ESM = consumer(`import { PomboClient, verifyWebhook, WebhookVerificationError } from '@pombo/sdk';
import * as nodeCrypto from 'node:crypto';
const require_crypto = () => nodeCrypto;`);
const CJS = consumer(`const { PomboClient, verifyWebhook, WebhookVerificationError } = require('@pombo/sdk');
const require_crypto = () => require('node:crypto');`);

/** Type-checks against the package's declarations as a user's compiler resolves them (import and require conditions). */
const TYPED_ESM = `import { PomboClient, type PomboEvent } from '@pombo/sdk';
const client: PomboClient = new PomboClient({ baseUrl: 'http://localhost:8080', apiKey: 'k' });
export const handle = (evt: PomboEvent): string => evt.id + String(client);
`;
const TYPED_CJS = `import sdk = require('@pombo/sdk');
export const client: sdk.PomboClient = new sdk.PomboClient({ baseUrl: 'http://localhost:8080', apiKey: 'k' });
`;

test('the packed SDK installs into a new project and works from plain node, as ES module and as CommonJS, with its types', { timeout: 180_000 }, async () => {
  const project = mkdtempSync(join(tmpdir(), 'pombo-sdk-user-'));
  const pombo = await startPombo();
  try {
    // npm pack runs the package's prepack (the build); ws (the optional peer for Node 20) comes packed from this repository, so nothing is downloaded.
    await run('npm', ['pack', '--silent', '--pack-destination', project, SDK], { cwd: project });
    await run('npm', ['pack', '--silent', '--pack-destination', project, WS], { cwd: project });
    const tarballs = readdirSync(project).filter((file) => file.endsWith('.tgz'));
    assert.equal(tarballs.length, 2, tarballs.join());
    const { stdout: listing } = await run('tar', ['-tzf', join(project, tarballs.find((file) => file.startsWith('pombo-sdk'))!)]);
    const shipped = listing.trim().split('\n');
    assert.deepEqual(shipped.filter((file) => !/^package\/(dist\/.+|README\.md|LICENSE|package\.json)$/.test(file)), [], 'only dist, README, LICENSE and package.json ship');
    assert.ok(shipped.includes('package/dist/esm/index.d.ts') && shipped.includes('package/dist/cjs/index.js'));

    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sdk-user', private: true }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', ...tarballs.map((file) => `./${file}`)], { cwd: project });
    writeFileSync(join(project, 'esm.mjs'), ESM);
    writeFileSync(join(project, 'cjs.cjs'), CJS);
    for (const script of ['esm.mjs', 'cjs.cjs']) {
      const env = { ...process.env, POMBO_URL: pombo.url, POMBO_KEY: pombo.apiKey, INSTANCE: uniqueName('pkg') };
      const { stdout } = await run(process.execPath, [script], { cwd: project, env, timeout: 30_000 });
      const result = JSON.parse(stdout);
      assert.equal(result.receivedId, result.published, `${script}: the subscription received the published event`);
      assert.equal(result.verifiedInstance, env.INSTANCE, `${script}: the signed webhook verified`);
      assert.equal(result.tampered, 'refused', `${script}: a tampered body is refused`);
    }

    writeFileSync(join(project, 'typed.mts'), TYPED_ESM);
    writeFileSync(join(project, 'typed.cts'), TYPED_CJS);
    const compilerOptions = { noEmit: true, strict: true, module: 'nodenext', target: 'es2022', types: [], lib: ['es2022', 'dom', 'esnext.disposable'] };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['typed.mts', 'typed.cts'] }));
    await run(process.execPath, [TSC, '-p', project], { cwd: project }).catch((error: { stdout?: string }) => {
      throw new Error(`the package's types do not check in a user's project:\n${error.stdout}`);
    });
  } finally {
    await pombo.close();
    rmSync(project, { recursive: true, force: true });
  }
});
