import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { describeEventStoreConformance } from './event-store-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'pombo-store-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

describeEventStoreConformance('SQLite', async () => new SqliteStore(join(dir, `${randomUUID()}.db`)));

test('SQLite: the log is a WAL database and survives a reopen', async () => {
  const file = join(dir, `${randomUUID()}.db`);
  let store = new SqliteStore(file);
  const instance = await store.createInstance({ id: randomUUID(), name: 'reopen', token: 't', integration: 'INGEST', number: null, channels: {} });
  const [first] = await store.append([{ instanceId: instance.id, event: 'CALL', data: { n: 1 } }]);
  await store.close();

  const raw = new Database(file, { readonly: true });
  assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.close();

  store = new SqliteStore(file);
  try {
    assert.deepEqual(await store.getByIds([first?.event.id ?? '']), [first?.event]);
    const [second] = await store.append([{ instanceId: instance.id, event: 'CALL', data: { n: 2 } }]);
    assert.equal(second?.event.seq, 2, 'the sequence continues after a reopen');
    assert.ok((second?.event.pos ?? 0) > (first?.event.pos ?? 0));
  } finally {
    await store.close();
  }
});

test('SQLite: appends still queued at close are committed, not lost', async () => {
  const file = join(dir, `${randomUUID()}.db`);
  const store = new SqliteStore(file);
  const instance = await store.createInstance({ id: randomUUID(), name: 'queued', token: 't', integration: 'INGEST', number: null, channels: {} });
  const pending = store.append([{ instanceId: instance.id, event: 'CALL', data: {} }]);
  await store.close();
  const [result] = await pending;
  const reopened = new SqliteStore(file);
  try {
    assert.deepEqual(await reopened.getByIds([result?.event.id ?? '']), [result?.event]);
  } finally {
    await reopened.close();
  }
});
