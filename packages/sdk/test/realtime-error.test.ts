import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PomboRealtimeError } from '../src/index.ts';

test('a refusal ends a subscription; a slow handshake (408), a rate limit (429), a server error or a lost connection do not', () => {
  const refused = (status: number) => new PomboRealtimeError('refused', undefined, status).fatal;
  const closed = (code: number) => new PomboRealtimeError('closed', code).fatal;
  assert.deepEqual([400, 401, 403, 404].map(refused), [true, true, true, true]);
  assert.deepEqual([408, 429, 500, 503].map(refused), [false, false, false, false]);
  assert.deepEqual([4401, 4403, 4410].map(closed), [true, true, true]);
  // A frame the protocol forbids (the server's close table says "fix the client"): the same client would send it again.
  assert.deepEqual([1002, 1007, 1008, 1009].map(closed), [true, true, true, true]);
  assert.deepEqual([1001, 1006, 1011, 1013, 4307, 4408, 4429].map(closed), [false, false, false, false, false, false, false]);
});
