import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { uniqueName } from '../helpers/pombo-harness.ts';

test('kill -9 right after appends were acknowledged loses none of them', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-kill-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const apiKey = `durable-${randomBytes(8).toString('hex')}`;
  const env = { DATA_DIR: dataDir, AUTHENTICATION_API_KEY: apiKey };
  const port = await freePort();
  const call = (url: string, method: string, path: string, body?: unknown) =>
    fetch(`${url}${path}`, {
      method,
      headers: { apikey: apiKey, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  let pombo = await spawnPombo(env, port);
  const name = uniqueName('durable');
  const acknowledged: string[] = [];
  try {
    assert.equal((await call(pombo.url, 'POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).status, 201);
    const appends = Array.from({ length: 40 }, async (_, i) => {
      const response = await call(pombo.url, 'POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { i } });
      assert.equal(response.status, 201);
      acknowledged.push(((await response.json()) as { id: string }).id);
    });
    await Promise.all(appends);
    await pombo.kill();
    assert.equal(pombo.child.signalCode, 'SIGKILL', 'the server was killed, not shut down');

    pombo = await spawnPombo(env, port);
    const read = await call(pombo.url, 'GET', `/events/${name}?limit=1000`);
    const events = ((await read.json()) as { events: Array<{ id: string; seq: number }> }).events;
    const kept = new Set(events.map((event) => event.id));
    assert.deepEqual(acknowledged.filter((id) => !kept.has(id)), [], 'every acknowledged event survived');
    assert.deepEqual(events.map((event) => event.seq), Array.from({ length: 41 }, (_, i) => i + 1));
    const next = await call(pombo.url, 'POST', `/events/${name}`, { event: 'CALL', data: {} });
    assert.equal(((await next.json()) as { seq: number }).seq, 42, 'the sequence continues without a gap');
  } finally {
    await pombo.kill();
  }
});
