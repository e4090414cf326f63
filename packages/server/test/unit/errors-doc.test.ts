import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERRORS, PomboError, type ErrorCode } from '../../src/core/errors.ts';

const DOC = new URL('../../../../docs/errors.md', import.meta.url);

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
