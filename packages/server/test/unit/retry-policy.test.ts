import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoff, forever } from '../../src/delivery/retry-policy.ts';

const options = { maxAttempts: 10, initialDelayMs: 5000, maxDelayMs: 300_000, exponential: true, jitterFactor: 0.2 };

test('exponential backoff doubles from the initial delay up to the cap', () => {
  const policy = backoff({ ...options, jitterFactor: 0 });
  assert.equal(policy.maxAttempts, 10);
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 9].map((failures) => policy.delayMs(failures)),
    [5000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000],
  );
  assert.equal(policy.delayMs(60), 300_000, 'no overflow far past the cap');
});

test('constant backoff keeps the initial delay', () => {
  const policy = backoff({ ...options, exponential: false, jitterFactor: 0 });
  assert.deepEqual([1, 2, 7].map((failures) => policy.delayMs(failures)), [5000, 5000, 5000]);
});

test('jitter spreads each delay within ±factor of it, and reaches both bounds', () => {
  assert.equal(backoff(options, () => 0).delayMs(3), 16_000);
  assert.equal(backoff(options, () => 0.5).delayMs(3), 20_000);
  assert.equal(backoff(options, () => 1).delayMs(3), 24_000);
  assert.equal(backoff(options, () => 0).delayMs(30), 240_000, 'jitter applies to the capped delay');
  const policy = backoff(options);
  for (let i = 0; i < 1000; i++) {
    const delay = policy.delayMs(2);
    assert.ok(delay >= 8000 && delay <= 12_000, `${delay} is outside 10 s ± 20 %`);
  }
});

test('forever never gives up and keeps full-jitter delays within the cap', () => {
  const policy = forever(200, 30_000);
  assert.equal(policy.maxAttempts, Number.POSITIVE_INFINITY);
  for (const failures of [0, 1, 5, 10, 100, 10_000]) {
    for (let i = 0; i < 50; i++) {
      const delay = policy.delayMs(failures);
      assert.ok(delay >= 0 && delay <= Math.min(30_000, 200 * 2 ** failures), `${failures}: ${delay}`);
      assert.ok(Number.isFinite(delay));
    }
  }
});
