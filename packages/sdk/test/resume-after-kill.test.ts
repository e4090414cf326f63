import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnPombo } from '../../server/test/helpers/child-pombo.ts';
import { eventually, uniqueName } from '../../server/test/helpers/pombo-harness.ts';
import { PomboClient } from '../src/index.ts';

test('the SDK resumes after a kill -9 of the server with no acknowledged event missing, each handled once (dedupe)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-sdk-kill-'));
  const port = await freePort();
  const env = { DATA_DIR: dataDir, AUTHENTICATION_API_KEY: `kill-test-key-${port}`, REALTIME_ACK_WAIT_MS: '1000' };
  let server = await spawnPombo(env, port);
  try {
    const client = new PomboClient({ baseUrl: server.url, apiKey: env.AUTHENTICATION_API_KEY });
    const name = uniqueName('kill');
    await client.instances.create({ instanceName: name, integration: 'INGEST' });
    const handled = new Map<string, number>();
    const errors: string[] = [];
    const sub = await client.events.subscribe({
      instanceId: name,
      events: ['Message'],
      maxRetries: 100,
      retryDelayMs: 50,
      maxRetryDelayMs: 400,
      dedupe: true,
      onError: (error) => errors.push(error.message),
    });
    sub.on('Message', async (event) => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      handled.set(event.id, (handled.get(event.id) ?? 0) + 1);
    });

    // Events the server acknowledged (201): these must all arrive. Publishing goes on through the kill.
    const published: string[] = [];
    let producing = true;
    const producer = (async () => {
      for (let n = 0; producing; n++) {
        try {
          const [event] = (await client.events.publish(name, [{ event: 'MESSAGES_UPSERT', data: { key: { remoteJid: 'a@s.whatsapp.net', id: `m${n}` }, n } }])).events;
          published.push(event!.id);
        } catch {
          // the server is down: not acknowledged, not owed
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await eventually(() => handled.size >= 30, 'events before the kill');
    await server.kill();
    const beforeRestart = published.length;
    server = await spawnPombo(env, port);
    await eventually(() => published.length >= beforeRestart + 30, 'events after the restart', 20_000);
    producing = false;
    await producer;
    await eventually(() => published.every((id) => handled.has(id)), 'every acknowledged event handled', 20_000);
    assert.ok(errors.some((message) => /connection closed/.test(message)), 'the disconnect was reported');
    assert.deepEqual([...handled.values()].filter((count) => count > 1), [], 'no event handled twice');
    assert.equal(sub.state, 'open');
    await sub.close();
  } finally {
    await server.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
