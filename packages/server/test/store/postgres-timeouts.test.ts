import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { Instance } from '../../src/store/types.ts';
import { POSTGRES_SERVER, postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

/**
 * Connection hygiene (DATABASE_STATEMENT_TIMEOUT_MS, DATABASE_KEEPALIVE_MS): a statement that waits too
 * long is cancelled by the server, a database that stops answering altogether (a network that drops
 * every packet, through a proxy the test freezes) is noticed, and every connection has TCP keepalive.
 */
const { uri, schema, service } = await postgresTestSchema();
const TIMEOUT_MS = 400;

/** How long `work` took to reject, in ms. */
async function rejectsWithin(work: Promise<unknown>, pattern: RegExp): Promise<number> {
  const started = Date.now();
  await assert.rejects(work, pattern);
  return Date.now() - started;
}

describe('PostgreSQL connection hygiene', { skip: 'skip' in service ? service.skip : false }, () => {
  let proxy: TcpProxy;
  let store: PostgresStore;
  let instance: Instance;
  before(async () => {
    proxy = await startTcpProxy({ port: 5432 });
    const through = uri.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`);
    store = await PostgresStore.open(through, { statementTimeoutMs: TIMEOUT_MS, keepAliveMs: 5000 });
    instance = await store.createInstance({ id: randomUUID(), name: `timeouts-${randomUUID()}`, token: randomUUID(), integration: 'INGEST', number: null, channels: {} });
  });
  after(async () => {
    await store?.close();
    await proxy?.close();
  });

  test('every connection to PostgreSQL has TCP keepalive', async () => {
    await Promise.all([store.getCursor('a'), store.getCursor('b'), store.read({ afterPos: 0, limit: 1 })]);
    const sockets = execFileSync('ss', ['-tnpoH', 'state', 'established', `( dport = :${proxy.port} )`], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes(`pid=${process.pid},`));
    assert.ok(sockets.length >= 2, `this process has connections to the database (${sockets.length})`);
    assert.deepEqual(sockets.filter((line) => !line.includes('timer:(keepalive')), [], 'each has a keepalive timer');
  });

  test('a statement that waits past the timeout is cancelled by the server; the next one goes through', async () => {
    // Another session holds the instance's row: the append waits for it.
    const holder = new pg.Client({ connectionString: POSTGRES_SERVER });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM "${schema}".pombo_instances WHERE id = $1 FOR UPDATE`, [instance.id]);
      const took = await rejectsWithin(store.append([{ instanceId: instance.id, event: 'MESSAGES_UPSERT', data: { n: 1 } }]), /statement timeout/);
      assert.ok(took >= TIMEOUT_MS - 50 && took < TIMEOUT_MS + 1500, `cancelled after the timeout (${took} ms)`);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    const [appended] = await store.append([{ instanceId: instance.id, event: 'MESSAGES_UPSERT', data: { n: 2 } }]);
    assert.equal(appended?.event.seq, 1);
  });

  test('a database that stops answering (every packet dropped) is noticed: statements fail instead of hanging, and work again once it answers', async () => {
    await store.getCursor('before');
    proxy.freeze();
    try {
      const took = await rejectsWithin(store.getCursor('frozen'), /timeout/i);
      assert.ok(took < TIMEOUT_MS + 4000, `gave up after the timeout and its grace (${took} ms)`);
      await rejectsWithin(store.append([{ instanceId: instance.id, event: 'MESSAGES_UPSERT', data: { n: 3 }, producerId: 'frozen-3' }]), /timeout/i);
    } finally {
      proxy.restore();
    }
    // An append is one statement: the one the store gave up on may still commit when the network
    // heals (its packets arrive late). Sent again with its producer id, it is stored once either way.
    const [again] = await store.append([{ instanceId: instance.id, event: 'MESSAGES_UPSERT', data: { n: 3 }, producerId: 'frozen-3' }]);
    const [appended] = await store.append([{ instanceId: instance.id, event: 'MESSAGES_UPSERT', data: { n: 4 } }]);
    const events = await store.read({ instanceId: instance.id, limit: 10 });
    assert.deepEqual(events.map((event) => (event.data as { n: number }).n), [2, 3, 4], 'the event sent again is stored once, the next one after it');
    assert.deepEqual(events.map((event) => event.seq), [1, 2, 3], 'no seq is skipped');
    assert.equal(again?.event.seq, 2);
    assert.equal(appended?.event.seq, 3);
    assert.equal(await store.getCursor('after'), undefined);
  });
});
