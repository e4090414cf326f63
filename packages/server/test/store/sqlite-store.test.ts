import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/sqlite/schema.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { describeEventStoreConformance } from './event-store-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'pombo-store-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const conformanceFile = join(dir, 'conformance.db');
describeEventStoreConformance('SQLite', async () => new SqliteStore(conformanceFile));

test('SQLite: the log is a WAL database', async () => {
  const file = join(dir, `${randomUUID()}.db`);
  const store = new SqliteStore(file);
  await store.close();
  const raw = new Database(file, { readonly: true });
  assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.close();
});

test('SQLite: a log written before times were kept in order is put in order on open, so retention never deletes a newer event', async () => {
  const file = join(dir, `${randomUUID()}.db`);
  const raw = new Database(file);
  for (const step of MIGRATIONS.slice(0, 2)) raw.exec(step);
  raw.pragma('user_version = 2');
  raw.prepare("INSERT INTO instances (id, name, token, integration, created_at) VALUES ('i', 'old', 't', 'INGEST', '2026-01-01T00:00:00.000Z')").run();
  const insert = raw.prepare("INSERT INTO events (id, instance_id, instance, seq, event, data, created_at) VALUES (?, 'i', 'old', ?, 'CALL', '{}', ?)");
  // The clock went back 50 s between the second and the third event.
  const times = [100_000, 200_000, 150_000, 250_000];
  times.forEach((time, index) => insert.run(`evt_${index}`, index + 1, time));
  raw.close();

  const store = new SqliteStore(file);
  try {
    const events = await store.read({ instanceId: 'i', limit: 10 });
    assert.deepEqual(events.map((event) => Date.parse(event.createdAt)), [100_000, 200_000, 200_000, 250_000]);
    assert.equal(await store.prune(new Date(180_000)), 1, 'only the event from before the cut');
    assert.deepEqual((await store.read({ instanceId: 'i', limit: 10 })).map((event) => event.id), ['evt_1', 'evt_2', 'evt_3']);
  } finally {
    await store.close();
  }
});
