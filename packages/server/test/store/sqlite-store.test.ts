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
