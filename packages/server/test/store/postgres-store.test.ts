import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { POSTGRES_SERVER as SERVER, postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { assertNumberKeptByFirst, describeEventStoreConformance } from './event-store-conformance.ts';
import { MIGRATIONS } from '../../src/store/postgres/postgres-schema.ts';

/** The migrations before the one that made owner_jid unique: a database as it was before it. */
const BEFORE_OWNER_INDEX = MIGRATIONS.findIndex((step) => step.includes('pombo_instances_owner_jid ON'));
const INSERT_INSTANCE = "INSERT INTO pombo_instances (id, name, token, integration, state, owner_jid, created_at) VALUES ($1, $2, 'token-' || $1, 'INGEST', 'open', $3, $4)";

/** Creates `schema` as a node of the version before the owner_jid index left it, and makes it the admin's search path. */
async function migrateUpToOwnerIndex(admin: pg.Client, schema: string): Promise<void> {
  await admin.query(`CREATE SCHEMA "${schema}"; SET search_path TO "${schema}"`);
  for (const step of MIGRATIONS.slice(0, BEFORE_OWNER_INDEX)) await admin.query(step);
  await admin.query(`CREATE TABLE pombo_schema_version (version INTEGER NOT NULL); INSERT INTO pombo_schema_version VALUES (${BEFORE_OWNER_INDEX})`);
}

const { schema, uri, service } = await postgresTestSchema();

if ('skip' in service) test('PostgreSQL event store', service, () => undefined);
else {
  describeEventStoreConformance('PostgreSQL', () => PostgresStore.open(uri));

  test('PostgreSQL: the log lives in the ?schema= schema, created when missing, with the data as the JSON text appended', async () => {
    const store = await PostgresStore.open(uri);
    const instance = await store.createInstance({ id: randomUUID(), name: `schema-${randomUUID()}`, token: 't', integration: 'INGEST', number: null, channels: {} });
    const [first] = await store.append([{ instanceId: instance.id, event: 'CALL', data: { n: 1 } }]);
    await store.close();

    const admin = new pg.Client({ connectionString: SERVER });
    await admin.connect();
    try {
      const tables = await admin.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema]);
      assert.deepEqual(tables.rows.map((row) => row.table_name), ['pombo_cursors', 'pombo_deliveries', 'pombo_events', 'pombo_idempotency_keys', 'pombo_instances', 'pombo_leases', 'pombo_log_head', 'pombo_nodes', 'pombo_replays', 'pombo_schema_version', 'pombo_subscriber_leases']);
      const stored = await admin.query(`SELECT data FROM "${schema}".pombo_events WHERE id = $1`, [first?.event.id]);
      assert.equal(stored.rows[0]?.data, '{"n":1}', 'the data is kept as the JSON text appended');
      const version = await admin.query(`SELECT version FROM "${schema}".pombo_schema_version`);
      assert.deepEqual(version.rows, [{ version: MIGRATIONS.length }], 'every migration applied');
    } finally {
      await admin.end();
    }
  });

  test('PostgreSQL: a number two instances got before it was held by the database stays with the first one created', async () => {
    const older = `${schema}_owners`;
    const admin = new pg.Client({ connectionString: SERVER });
    await admin.connect();
    try {
      await migrateUpToOwnerIndex(admin, older);
      await admin.query(INSERT_INSTANCE, ['second', 'a-second', 'x@s.whatsapp.net', '2026-01-02T00:00:00.000Z']);
      await admin.query(INSERT_INSTANCE, ['first', 'b-first', 'x@s.whatsapp.net', '2026-01-01T00:00:00.000Z']);
      await admin.query(INSERT_INSTANCE, ['alone', 'c-alone', 'y@s.whatsapp.net', '2026-01-03T00:00:00.000Z']);
    } finally {
      await admin.end();
    }
    const store = await PostgresStore.open(`${SERVER}?schema=${older}`);
    try {
      await assertNumberKeptByFirst(store);
    } finally {
      await store.close();
    }
  });

  test('PostgreSQL: a number an older node gives while the owner_jid migration runs (a rolling upgrade) is seen by it, and the index is built', async () => {
    const older = `${schema}_upgrade`;
    const admin = new pg.Client({ connectionString: SERVER });
    const oldNode = new pg.Client({ connectionString: SERVER, options: `-c search_path="${older}"` });
    await Promise.all([admin.connect(), oldNode.connect()]);
    try {
      await migrateUpToOwnerIndex(admin, older);
      await admin.query(INSERT_INSTANCE, ['first', 'a-first', 'x@s.whatsapp.net', '2026-01-01T00:00:00.000Z']);
      await admin.query(INSERT_INSTANCE, ['second', 'b-second', null, '2026-01-02T00:00:00.000Z']);
      // A node of the version before gives the number to a second instance; its transaction is still open when the new node starts.
      await oldNode.query("BEGIN; UPDATE pombo_instances SET owner_jid = 'x@s.whatsapp.net' WHERE id = 'second'");
      const oldPid = (await oldNode.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      const opening = PostgresStore.open(`${SERVER}?schema=${older}`);
      const waiting = async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))', [oldPid])).rowCount;
      for (let tries = 0; !(await waiting()); tries++) {
        if (tries > 500) throw new Error('the migration never waited for the older node');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await oldNode.query('COMMIT');
      const store = await opening;
      try {
        const owners = Object.fromEntries((await store.listInstances()).map((instance) => [instance.id, instance.ownerJid]));
        assert.deepEqual(owners, { first: 'x@s.whatsapp.net', second: null }, 'the number stays with the first instance created');
      } finally {
        await store.close();
      }
    } finally {
      await oldNode.query('ROLLBACK').catch(() => undefined);
      await Promise.all([admin.end(), oldNode.end()]);
    }
  });

  test('PostgreSQL: two stores opening a new schema at once both migrate it once', async () => {
    const fresh = `${schema}_race`;
    const stores = await Promise.all([PostgresStore.open(`${SERVER}?schema=${fresh}`), PostgresStore.open(`${SERVER}?schema=${fresh}`)]);
    await Promise.all(stores.map((store) => store.close()));
    const admin = new pg.Client({ connectionString: SERVER });
    await admin.connect();
    try {
      assert.deepEqual((await admin.query(`SELECT version FROM "${fresh}".pombo_schema_version`)).rows, [{ version: MIGRATIONS.length }]);
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${fresh}" CASCADE`);
      await admin.end();
    }
  });
}
