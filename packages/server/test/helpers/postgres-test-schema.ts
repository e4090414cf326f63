import { after } from 'node:test';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import pg from 'pg';
import { requireService } from './pombo-harness.ts';

/** The machine's PostgreSQL (trust auth, database `test`). */
export const POSTGRES_SERVER = 'postgresql://postgres@127.0.0.1:5432/test';

/** What a skipped test tells the developer: the scripts under scripts/services/ start brokers, not PostgreSQL. */
export const POSTGRES_HOW = `start the machine's own PostgreSQL (e.g. "service postgresql start") so that ${POSTGRES_SERVER} answers: user postgres with trust authentication, database "test"; scripts/services/ does not start PostgreSQL`;

/**
 * A schema of this test file's own on the machine's PostgreSQL, dropped (with any `<schema>_…`
 * siblings the file made) when the file ends; `service` skips or fails the tests as
 * `requireService` does when the server is down.
 */
export async function postgresTestSchema() {
  const schema = `pombo_test_${randomBytes(5).toString('hex')}`;
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = connect(5432, '127.0.0.1', () => resolve(socket.end() && true)).on('error', () => resolve(false));
  });
  const service = requireService(reachable, 'PostgreSQL on 127.0.0.1:5432', POSTGRES_HOW);
  after(async () => {
    if (!reachable) return;
    const admin = new pg.Client({ connectionString: POSTGRES_SERVER });
    await admin.connect();
    const { rows } = await admin.query<{ name: string }>('SELECT nspname AS name FROM pg_namespace WHERE nspname = $1 OR nspname LIKE $2', [schema, `${schema}\\_%`]);
    for (const { name } of rows) await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    await admin.end();
  });
  return { schema, uri: `${POSTGRES_SERVER}?schema=${schema}`, reachable, service };
}
