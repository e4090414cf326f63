import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newEventId, newToken, timeOfId, ulid } from '../../src/core/ids.ts';

test('event ids are evt_ + a 26-character Crockford ULID', () => {
  assert.match(newEventId(), /^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
});

test('ids made in the same millisecond stay unique and increasing', () => {
  const now = Date.now() + 60_000;
  const ids = Array.from({ length: 5000 }, () => ulid(now));
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
});

test('ids sort by time, even when the clock steps back', () => {
  const later = ulid(Date.now() + 120_000);
  const afterStepBack = ulid(Date.now());
  assert.ok(afterStepBack > later, 'a clock stepping back never yields a smaller id');
  const ids = Array.from({ length: 200 }, () => newEventId());
  assert.deepEqual([...ids].sort(), ids);
});

test('timeOfId reads the millisecond back, with or without prefix', () => {
  const at = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
  const id = ulid(at + 1_000_000);
  assert.equal(timeOfId(id), at + 1_000_000);
  assert.equal(timeOfId(`evt_${id}`), at + 1_000_000);
  assert.equal(timeOfId('evt_!!!'), undefined);
  assert.equal(timeOfId('evt_01AB'), undefined);
});

test('tokens are random and URL-safe', () => {
  const tokens = Array.from({ length: 100 }, () => newToken());
  assert.equal(new Set(tokens).size, 100);
  for (const token of tokens) assert.match(token, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(newToken(32).length, 43);
});
