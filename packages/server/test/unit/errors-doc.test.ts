import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERRORS, PomboError, type ErrorCode } from '../../src/core/errors.ts';

const DOC = new URL('../../../../docs/errors.md', import.meta.url);
const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/** The rows of the table in docs/errors.md: code → status and message. */
function documented(): Map<string, { status: number; message: string }> {
  const rows = new Map<string, { status: number; message: string }>();
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const match = /^\| `(\w+)` \| (\d{3}) \| (.+?) \|/.exec(line);
    if (!match) continue;
    const [, code = '', status = '', message = ''] = match;
    assert.ok(!rows.has(code), `${code} is listed twice in docs/errors.md`);
    rows.set(code, { status: Number(status), message });
  }
  return rows;
}

test('every error code is in docs/errors.md with its status and message', () => {
  const doc = documented();
  for (const [code, { status, message }] of Object.entries(ERRORS)) {
    assert.deepEqual(doc.get(code), { status, message }, `docs/errors.md must list ${code} as | \`${code}\` | ${status} | ${message} |`);
  }
});

test('docs/errors.md lists no code that the server does not have', () => {
  const extra = [...documented().keys()].filter((code) => !(code in ERRORS));
  assert.deepEqual(extra, [], 'remove these from docs/errors.md or add them to core/errors.ts');
});

/** The source of src/, without the ERRORS table itself: where a code is used, not where it is declared. */
function sourceOutsideTheTable(): string {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  const text = files.map((file) => readFileSync(join(SRC, file), 'utf8')).join('\n');
  const table = /export const ERRORS = \{[\s\S]*?\n\} as const/;
  assert.match(text, table, 'the scan finds the ERRORS table in core/errors.ts');
  return text.replace(table, '');
}

test('every error code is used in src/: a documented code the server never returns misleads clients', () => {
  const source = sourceOutsideTheTable();
  assert.ok(source.includes("'POMBO_ERR_NOT_FOUND'"), 'the scan sees the codes where they are used (it can fail)');
  const unused = Object.keys(ERRORS).filter((code) => !source.includes(`'${code}'`));
  assert.deepEqual(unused, [], 'return these somewhere, or remove them from core/errors.ts and docs/errors.md');
});

test('errors serialize in Evolution API shape with their code and filled-in message', () => {
  const error = new PomboError('POMBO_ERR_INSTANCE_NOT_FOUND', { instance: 'alice' }, ['more']);
  assert.deepEqual(error.toJSON(), {
    status: 404,
    error: 'Not Found',
    code: 'POMBO_ERR_INSTANCE_NOT_FOUND',
    response: { message: ['The "alice" instance does not exist', 'more'] },
  });
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    const json = new PomboError(code).toJSON();
    assert.notEqual(json.error, 'Error', `${code}: add its status ${json.status} to STATUS_TEXT`);
  }
});
