import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';
import { startReceiver } from './http-receiver.ts';
import { FAST_RETRIES, message } from './webhook-fixtures.ts';

test('kill -9 in the middle of retries: after a restart every event is delivered', async (t) => {
  let up = false;
  const receiver = await startReceiver(() => ({ status: up ? 200 : 500 }));
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-webhook-crash-'));
  const apiKey = `crash-key-${randomBytes(8).toString('hex')}`;
  const env = {
    ...FAST_RETRIES,
    WEBHOOK_RETRY_MAX_DELAY_SECONDS: '0.5',
    WEBHOOK_RETRY_MAX_ATTEMPTS: '1000',
    WEBHOOK_CIRCUIT_FAILURE_THRESHOLD: '1000',
    WEBHOOK_DISABLE_AFTER_FAILURES: '0',
    DATA_DIR: dataDir,
    AUTHENTICATION_API_KEY: apiKey,
  };
  const port = await freePort();
  let server = await spawnPombo(env, port);
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { apikey: apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  try {
    const name = uniqueName('crash');
    const created = await api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', webhook: { url: `${receiver.url}/hook`, events: ['MESSAGES_UPSERT'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const ids: string[] = [];
    for (let batch = 0; batch < 5; batch++) {
      const events = Array.from({ length: 10 }, (_, i) => message(`${i}@s.whatsapp.net`, `before-${batch}-${i}`));
      const appended = await api('POST', `/events/${name}`, { events });
      assert.equal(appended.status, 201);
      ids.push(...appended.body.events.map((event: { id: string }) => event.id));
    }
    await eventually(async () => {
      const pending = await api('GET', `/webhook/deliveries/${name}?status=pending&limit=1000`);
      return pending.body.deliveries.length === ids.length;
    }, 'every event failed once and waiting for its retry');
    await server.kill();
    const triedBeforeCrash = receiver.requests.length;

    up = true;
    server = await spawnPombo(env, port);
    const later = await api('POST', `/events/${name}`, { events: [message('z@s.whatsapp.net', 'after-restart')] });
    ids.push(later.body.events[0].id);
    await eventually(() => ids.every((id) => receiver.deliveredIds().includes(id)), 'every event delivered after the restart', 20_000);
    const delivered = receiver.deliveredIds();
    const duplicates = delivered.length - new Set(delivered).size;
    t.diagnostic(`${ids.length} events, ${triedBeforeCrash} failed attempts before kill -9, ${delivered.length} deliveries after, ${duplicates} duplicates`);
    assert.deepEqual(new Set(delivered), new Set(ids), 'none missing, nothing unknown');
    const log = await eventually(async () => {
      const records = await api('GET', `/webhook/deliveries/${name}?status=delivered&limit=1000`);
      return records.body.deliveries.length === ids.length && records.body.deliveries;
    }, 'the log shows every delivery as delivered');
    const first = log.find((record: { id: string }) => record.id === ids[0]);
    assert.ok(first.attempts.length >= 2, 'attempts made before the crash are kept');
  } finally {
    await server.kill();
    await receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
