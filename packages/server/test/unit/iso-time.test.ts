import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoTime, msOfIso } from '../../src/core/iso-time.ts';

test('isoTime and msOfIso agree with Date for repeated and changing times', () => {
  const times = [0, 1, 1, 1_700_000_000_123, 1_700_000_000_123, 1_700_000_000_124, 4_102_444_800_000, 1];
  for (const ms of times) {
    assert.equal(isoTime(ms), new Date(ms).toISOString());
    assert.equal(msOfIso(isoTime(ms)), ms);
  }
  assert.ok(Number.isNaN(msOfIso('not a time')));
  assert.equal(msOfIso('2026-11-23T14:00:00.000Z'), Date.UTC(2026, 10, 23, 14));
});
