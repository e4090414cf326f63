import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../../src/config/index.ts';
import { maskCredential } from '../../src/channels/webhook/webhook-config.ts';
import { MAX_RETRY_AFTER_MS, retryAfterMs } from '../../src/channels/webhook/webhook-sender.ts';
import { retry as retryOutcome, type Outcome } from '../../src/delivery/outcome.ts';
import { backoff, retryDelayMs } from '../../src/delivery/retry-policy.ts';
import { secretKey, signatureHeaders } from '../../src/channels/webhook/webhook-signature.ts';
import { byEventUrl, WebhookTarget } from '../../src/channels/webhook/webhook-target.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

test('Retry-After is read in seconds or as an HTTP date, and capped', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(retryAfterMs('120', now), 120_000);
  assert.equal(retryAfterMs(['3'], now), 3000);
  assert.equal(retryAfterMs('Wed, 01 Jan 2025 00:00:30 GMT', now), 30_000);
  assert.equal(retryAfterMs('Tue, 31 Dec 2024 23:00:00 GMT', now), 0, 'a date in the past means now');
  assert.equal(retryAfterMs('999999', now), MAX_RETRY_AFTER_MS);
  assert.equal(retryAfterMs('soon', now), undefined);
  assert.equal(retryAfterMs(undefined, now), undefined);
  for (const malformed of ['1.5', '-1', '2025-01-01', '1e3']) assert.equal(retryAfterMs(malformed, now), undefined, `${malformed}: neither seconds nor an HTTP date`);
});

test('a Retry-After never makes a retry come sooner than the backoff: 0 or a past date waits the policy delay', () => {
  const policy = backoff({ maxAttempts: 5, initialDelayMs: 5000, maxDelayMs: 60_000, exponential: true, jitterFactor: 0 });
  const retry = (error: string, afterMs?: number) => retryOutcome(error, afterMs) as Extract<Outcome, { kind: 'retry' }>;
  assert.equal(retryDelayMs(retry('429', 0), 1, policy), 5000);
  assert.equal(retryDelayMs(retry('429', 2000), 2, policy), 10_000);
  assert.equal(retryDelayMs(retry('429', 30_000), 1, policy), 30_000, 'a longer Retry-After is honoured');
  assert.equal(retryDelayMs(retry('503'), 1, policy), 5000);
});

test('byEvents URLs join paths with URL APIs', () => {
  assert.equal(byEventUrl('https://h.example/webhook', 'MESSAGES_UPSERT'), 'https://h.example/webhook/messages-upsert');
  assert.equal(byEventUrl('https://h.example/webhook/', 'MESSAGES_UPSERT'), 'https://h.example/webhook/messages-upsert');
  assert.equal(byEventUrl('https://h.example', 'SEND_MESSAGE_UPDATE'), 'https://h.example/send-message-update');
  assert.equal(byEventUrl('https://h.example/w?t=1&u=a%20b#frag', 'TYPEBOT_CHANGE_STATUS'), 'https://h.example/w/typebot-change-status?t=1&u=a%20b#frag');
});

test('signatures are Standard Webhooks v1 over exactly the bytes sent', () => {
  const key = secretKey(SECRET);
  assert.ok(Buffer.isBuffer(key));
  const body = '{"id":"evt_1","text":"olá"}';
  const headers = signatureHeaders(key, 'evt_1', body, Date.parse('2025-01-01T00:00:00Z'));
  assert.equal(headers['webhook-timestamp'], '1735689600');
  const expected = new Webhook(SECRET).sign('evt_1', new Date('2025-01-01T00:00:00Z'), body);
  assert.equal(headers['webhook-signature'], expected);
  assert.equal(typeof secretKey('whsec_'), 'string');
  assert.equal(typeof secretKey(`whsec_${Buffer.alloc(65).toString('base64')}`), 'string', 'at most 64 bytes');
  assert.equal(typeof secretKey(`whsec_${Buffer.alloc(24).toString('base64')}`), 'object', '24 bytes is enough');
});

test('credentials are masked, keeping the scheme and the last characters of long values only', () => {
  assert.equal(maskCredential('Bearer abcdefghijklmnop'), 'Bearer …mnop');
  assert.equal(maskCredential('Bearer short'), 'Bearer …');
  assert.equal(maskCredential('0123456789abcdef'), '…cdef');
  assert.equal(maskCredential('tiny'), '…');
});

test('configured header names are case-insensitive: one replaces the default instead of doubling it', () => {
  const target = new WebhookTarget({ url: 'https://h.example', byEvents: false, headers: { 'Content-Type': 'application/vnd.x+json', 'X-A': '1' }, key: undefined, base64: false });
  assert.deepEqual(target.headersFor('evt_1', '{}'), { 'content-type': 'application/vnd.x+json', 'user-agent': 'Pombo-Webhook/0.1', 'x-a': '1' });
});

test('a previous key signs beside the current one until its overlap ends, each in turn, whatever the order they were given', (t) => {
  const [current, sooner, later] = [1, 2, 3].map((fill) => Buffer.alloc(32, fill)) as [Buffer, Buffer, Buffer];
  let now = 1_000_000;
  t.mock.method(Date, 'now', () => now);
  const target = new WebhookTarget({
    url: 'https://h.example',
    byEvents: false,
    headers: {},
    key: current,
    previous: [{ key: later, untilMs: now + 2000 }, { key: sooner, untilMs: now + 1000 }],
    base64: false,
  });
  const signedBy = () => {
    const signatures = target.headersFor('evt_1', '{}')['webhook-signature']?.split(' ');
    return [current, sooner, later].filter((key) => signatures?.includes(signatureHeaders(key, 'evt_1', '{}', now)['webhook-signature'] as string));
  };
  assert.deepEqual(signedBy(), [current, sooner, later]);
  now += 999;
  assert.deepEqual(signedBy(), [current, sooner, later], 'until its last millisecond');
  now += 1;
  assert.deepEqual(signedBy(), [current, later], 'the sooner one ends first');
  now += 1000;
  assert.deepEqual(signedBy(), [current]);
  now += 60_000;
  assert.deepEqual(signedBy(), [current]);
});

test('a malformed WEBHOOK_GLOBAL_SECRET stops the start with a message naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-wh-secret-'));
  try {
    assert.throws(
      () =>
        loadConfig(
          { DATA_DIR: dir, AUTHENTICATION_API_KEY: 'k'.repeat(20), WEBHOOK_GLOBAL_ENABLED: 'true', WEBHOOK_GLOBAL_URL: 'http://127.0.0.1:9/x', WEBHOOK_GLOBAL_SECRET: 'plain' },
          dir,
        ),
      /WEBHOOK_GLOBAL_SECRET must be a Standard Webhooks secret/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
