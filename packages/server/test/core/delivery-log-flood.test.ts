import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { createPombo } from '../../src/pombo.ts';
import { eventually } from '../helpers/pombo-harness.ts';
import { startReceiver } from '../webhook/http-receiver.ts';
import { FAST_RETRIES } from '../webhook/webhook-fixtures.ts';

/**
 * A webhook receiver that fails every request for a while, then recovers: hundreds of attempts, yet
 * the operator's log holds a bounded number of lines for that destination (the first failure, then at
 * most one line per interval with counts, the circuit's pause), and still the recovery.
 */
test('a failing webhook over hundreds of attempts: a bounded number of log lines, and its recovery logged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-flood-'));
  let failing = true;
  const receiver = await startReceiver(() => ({ status: failing ? 500 : 200 }));
  t.after(async () => {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let output = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      output += chunk;
      done();
    },
  });
  const env = {
    ...FAST_RETRIES,
    WEBHOOK_RETRY_MAX_ATTEMPTS: '4',
    WEBHOOK_CIRCUIT_FAILURE_THRESHOLD: '1000',
    WEBHOOK_DISABLE_AFTER_FAILURES: '0',
    AUTHENTICATION_API_KEY: 'k'.repeat(20),
    DATA_DIR: dir,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  };
  const pombo = await createPombo(loadConfig(env, dir), createLogger('info', sink));
  const url = (await pombo.listen(0)).replace('0.0.0.0', '127.0.0.1');
  const call = (method: string, path: string, body: unknown) =>
    fetch(`${url}${path}`, { method, headers: { apikey: env.AUTHENTICATION_API_KEY, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const lines = () =>
    output
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, any>)
      .filter((line) => line.channel === 'webhook');
  try {
    const webhook = { enabled: true, url: `${receiver.url}/hook` };
    assert.equal((await call('POST', '/instance/create', { instanceName: 'flood', integration: 'INGEST', webhook })).status, 201);
    const events = Array.from({ length: 100 }, (_, i) => ({ event: 'MESSAGES_UPSERT', data: { key: { id: `m${i}`, remoteJid: `55119${String(i).padStart(8, '0')}@s.whatsapp.net` } } }));
    assert.equal((await call('POST', '/events/flood', events)).status, 201);
    await eventually(() => receiver.requests.length >= 400 || undefined, 'every event tried four times', 30_000);
    const failures = receiver.requests.length;
    const logged = lines();
    assert.ok(logged.length <= 6, `${failures} failed attempts gave ${logged.length} lines: ${logged.map((line) => line.msg).join(', ')}`);
    const first = logged.find((line) => line.msg === 'delivery failed; will retry');
    assert.ok(first, 'the first failure is logged');
    assert.equal(first.error, 'HTTP 500');
    failing = false;
    assert.equal((await call('POST', '/events/flood', { event: 'MESSAGES_UPSERT', data: { key: { id: 'after' } } })).status, 201);
    const recovered = await eventually(() => lines().find((line) => line.msg === 'deliveries recovered'), 'the recovery in the log');
    assert.equal(recovered.instance, 'flood');
    assert.ok(recovered.failures >= 400, `the recovery counts the failures it ends (${recovered.failures})`);
  } finally {
    await pombo.close();
  }
});
