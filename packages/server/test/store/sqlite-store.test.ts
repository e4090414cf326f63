import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/sqlite/schema.ts';
import { DatabaseInUseError } from '../../src/store/sqlite/exclusive-lock.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { DeliveryRecord } from '../../src/store/types.ts';
import { assertNumberKeptByFirst, describeEventStoreConformance } from './event-store-conformance.ts';

/** A new database file brought up to the migration whose text holds `marker`, not including it: a database as it was before it. */
function databaseBefore(marker: string): { file: string; raw: Database.Database } {
  const file = join(dir, `${randomUUID()}.db`);
  const raw = new Database(file);
  const before = MIGRATIONS.findIndex((step) => step.includes(marker));
  for (const step of MIGRATIONS.slice(0, before)) raw.exec(step);
  raw.pragma(`user_version = ${before}`);
  return { file, raw };
}

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

test('SQLite: a number two instances got before it was held by the database stays with the first one created', async () => {
  const { file, raw } = databaseBefore('instances_owner_jid ON');
  const statement = raw.prepare("INSERT INTO instances (id, name, token, integration, state, owner_jid, created_at) VALUES (?, ?, ?, 'INGEST', 'open', ?, ?)");
  const insert = { run: (id: string, name: string, jid: string, at: string) => statement.run(id, name, `token-${id}`, jid, at) };
  insert.run('second', 'a-second', 'x@s.whatsapp.net', '2026-01-02T00:00:00.000Z');
  insert.run('first', 'b-first', 'x@s.whatsapp.net', '2026-01-01T00:00:00.000Z');
  insert.run('alone', 'c-alone', 'y@s.whatsapp.net', '2026-01-03T00:00:00.000Z');
  raw.close();

  const store = new SqliteStore(file);
  try {
    await assertNumberKeptByFirst(store);
  } finally {
    await store.close();
  }
});

test('SQLite: a token two instances got before the database held it stays with the first one created; the others get new ones', async () => {
  const { file, raw } = databaseBefore('instances_token ON');
  const insert = raw.prepare("INSERT INTO instances (id, name, token, integration, created_at) VALUES (?, ?, ?, 'INGEST', ?)");
  insert.run('second', 'a-second', 'shared-token', '2026-01-02T00:00:00.000Z');
  insert.run('first', 'b-first', 'shared-token', '2026-01-01T00:00:00.000Z');
  insert.run('alone', 'c-alone', 'own-token', '2026-01-03T00:00:00.000Z');
  raw.close();

  const store = new SqliteStore(file);
  try {
    const byId = new Map((await store.listInstances()).map((instance) => [instance.id, instance]));
    assert.equal(byId.get('first')?.token, 'shared-token');
    assert.equal(byId.get('alone')?.token, 'own-token');
    assert.match(byId.get('second')?.token ?? '', /^[0-9a-f]{48}$/, 'a new random token');
    assert.deepEqual([byId.get('first')?.version, byId.get('second')?.version, byId.get('alone')?.version], [1, 2, 1], 'the changed row is a newer copy');
  } finally {
    await store.close();
  }
});

test('SQLite: the status index holds only the records not delivered, and failed and pending ones are listed from it', async () => {
  const file = join(dir, `${randomUUID()}.db`);
  const store = new SqliteStore(file);
  const destination = 'webhook:i1';
  const status = (pos: number): DeliveryRecord['status'] => (pos === 500 || pos === 1000 ? 'failed' : pos === 700 ? 'pending' : 'delivered');
  const records = Array.from({ length: 1000 }, (_, k): DeliveryRecord => ({
    destination,
    pos: k + 1,
    eventId: `evt_${k + 1}`,
    instanceId: 'i1',
    event: 'MESSAGES_UPSERT',
    status: status(k + 1),
    attempts: [{ at: '2030-01-01T00:00:00.000Z', durationMs: 1 }],
    nextAttemptAt: status(k + 1) === 'pending' ? 1 : null,
  }));
  try {
    await store.saveDeliveries(destination, records, 1000);
    const positions = (found: readonly DeliveryRecord[]) => found.map((record) => record.pos);
    assert.deepEqual(positions(await store.failedDeliveries([destination], 10)), [500, 1000]);
    assert.deepEqual(positions(await store.listDeliveries({ destination, status: 'failed', limit: 10 })), [500, 1000]);
    assert.deepEqual(positions(await store.listDeliveries({ destination, status: 'failed', afterPos: 500, limit: 10 })), [1000]);
    assert.deepEqual(positions(await store.listDeliveries({ destination, status: 'pending', limit: 10 })), [700]);
    assert.deepEqual(positions(await store.listDeliveries({ destination, status: 'delivered', limit: 3 })), [1, 2, 3]);
    // A dead letter replayed and delivered leaves the index.
    await store.saveDeliveries(destination, [{ ...records[499]!, status: 'delivered' }], 1000);
    assert.deepEqual(positions(await store.failedDeliveries([destination], 10)), [1000]);
  } finally {
    await store.close();
  }
  const raw = new Database(file, { readonly: true });
  try {
    const index = raw.prepare("SELECT sql FROM sqlite_master WHERE name = 'deliveries_status'").get() as { sql: string };
    assert.match(index.sql, /WHERE status != 'delivered'$/, 'delivered records are left out of it');
  } finally {
    raw.close();
  }
});

test('SQLite: a log that another process holds is refused with DatabaseInUseError; once that process is killed, it opens', async (t) => {
  const file = join(dir, `${randomUUID()}.db`);
  // Another Pombo, as far as the lock goes: it holds the lock and is then killed without a chance to let go.
  const holder = spawn(process.execPath, ['-e', HOLD_LOCK, `${file}-lock`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => holder.kill('SIGKILL'));
  await once(holder.stdout, 'data');
  assert.throws(() => new SqliteStore(file), (error: unknown) => error instanceof DatabaseInUseError && error.file === file);
  holder.kill('SIGKILL');
  await once(holder, 'exit');
  const store = new SqliteStore(file);
  const again = new SqliteStore(file);
  await again.close();
  await store.close();
});

/** Holds a write transaction on the lock database given as argument, then waits to be killed. */
const HOLD_LOCK = `
const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
new Database(process.argv[1]).exec('BEGIN EXCLUSIVE');
process.stdout.write('held');
setInterval(() => {}, 1000);
`;
