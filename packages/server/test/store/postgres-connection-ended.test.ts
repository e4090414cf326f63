import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { Instance } from '../../src/store/types.ts';
import { POSTGRES_SERVER, postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { eventually } from '../helpers/pombo-harness.ts';

const { uri, schema, service } = await postgresTestSchema();
const IDLE_MS = 150;

/**
 * The process stops for `ms` right after the next statement starting with `prefix` is sent, as a node
 * stopped (SIGSTOP, a long GC pause) in the middle of a transaction does: meanwhile the server answers,
 * then ends the transaction idle past `idle_in_transaction_session_timeout` and closes the connection.
 * When the process runs again it reads both at once, the end arriving while the connection is checked
 * out of the pool but runs no statement.
 */
function pauseAfter(prefix: string, ms: number): void {
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const result = (original as (...a: unknown[]) => unknown).apply(this, args);
    if (typeof args[0] === 'string' && args[0].startsWith(prefix)) {
      pg.Client.prototype.query = original;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    }
    return result;
  } as typeof original;
}

/**
 * Starts `write` while another session holds a row lock (`lock`, a FOR UPDATE query), so that the write
 * waits mid-statement; the server then ends the waiting backend (found by `waitingQuery`, a LIKE
 * pattern of its statement), and the write must be refused.
 */
async function endedWhileWaiting(lock: [sql: string, params: unknown[]], waitingQuery: string, write: () => Promise<unknown>): Promise<void> {
  const blocker = new pg.Client({ connectionString: POSTGRES_SERVER, options: `-c search_path="${schema}"` });
  await blocker.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query(...lock);
    const writing = write();
    writing.catch(() => undefined);
    const waiting = await eventually(async () => {
      const { rows } = await blocker.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1 AND pid <> pg_backend_pid()",
        [waitingQuery],
      );
      return rows[0]?.pid;
    }, 'the write waits for the lock');
    await blocker.query('SELECT pg_terminate_backend($1)', [waiting]);
    await assert.rejects(writing);
    await blocker.query('COMMIT');
  } finally {
    await blocker.end();
  }
}

describe('PostgreSQL connection ended by the server in the middle of a write', { skip: 'skip' in service ? service.skip : false }, () => {
  let store: PostgresStore;
  let instance: Instance;
  before(async () => {
    store = await PostgresStore.open(uri, { idleInTransactionMs: IDLE_MS });
    instance = await store.createInstance({ id: randomUUID(), name: `ended-${randomUUID()}`, token: randomUUID(), integration: 'INGEST', number: null, channels: {} });
  });
  after(async () => {
    await store?.close();
  });

  test('a prune whose transaction the server ended while the process was stopped is refused (the process goes on), and the next prune runs', async () => {
    await store.append([{ instanceId: instance.id, event: 'MESSAGES_UPSERT', data: { n: 0 } }]);
    pauseAfter('SET LOCAL statement_timeout', IDLE_MS * 4);
    await assert.rejects(store.prune(new Date(0)));
    assert.equal(await store.prune(new Date(0)), 0, 'the next prune runs (nothing is that old)');
  });

  test('an append whose connection the server ends mid-statement is refused, nothing of it written, and the next append is committed', async () => {
    const head = await store.headPosition();
    const seqBefore = (await store.read({ instanceId: instance.id, limit: 100 })).length;
    // The append waits on the instance's row another session holds, so the server ends its connection mid-statement.
    await endedWhileWaiting(['SELECT 1 FROM pombo_instances WHERE id = $1 FOR UPDATE', [instance.id]], '%pombo_log_head%', () =>
      store.append([{ instanceId: instance.id, event: 'MESSAGES_UPSERT', data: { n: 1 } }]),
    );
    const [second] = await store.append([{ instanceId: instance.id, event: 'MESSAGES_UPSERT', data: { n: 2 } }]);
    assert.equal(second?.event.seq, seqBefore + 1, 'the refused append took no seq');
    const stored = await store.read({ afterPos: head, instanceId: instance.id, limit: 10 });
    assert.deepEqual(stored.map((event) => (event.data as { n: number }).n), [2], 'only the committed append is in the log');
  });

  test('a delivery-state write whose connection the server ends is refused, nothing of it written, and the next one is written', async () => {
    const destination = `ended-${randomUUID()}`;
    await store.saveDeliveries(destination, [], 1);
    // The write waits on a row lock another session holds, so the server ends its connection mid-statement.
    await endedWhileWaiting(['SELECT pos FROM pombo_cursors WHERE destination = $1 FOR UPDATE', [destination]], '%INSERT INTO pombo_cursors%', () =>
      store.saveDeliveries(destination, [], 5),
    );
    assert.equal(await store.getCursor(destination), 1);
    await store.saveDeliveries(destination, [], 7);
    assert.equal(await store.getCursor(destination), 7);
  });
});
