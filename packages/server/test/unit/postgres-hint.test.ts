import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { POSTGRES_HOW, POSTGRES_SERVER } from '../helpers/postgres-test-schema.ts';

const ROOT = new URL('../../../../', import.meta.url);

test('the PostgreSQL skip hint names the server the tests use, and no script that does not start it', () => {
  assert.ok(POSTGRES_HOW.includes(POSTGRES_SERVER), POSTGRES_HOW);
  for (const [script = ''] of POSTGRES_HOW.matchAll(/scripts\/\S+\.sh/g)) {
    assert.match(readFileSync(new URL(script, ROOT), 'utf8'), /postgres/i, `${script} does not start PostgreSQL`);
  }
});
