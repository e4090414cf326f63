import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { PomboClient, WebhookVerificationError } from '../src/index.ts';

const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
const client = new PomboClient({ baseUrl: 'http://localhost:8080', apiKey: 'any' });

function signed(body: string, at = new Date()): Record<string, string> {
  const id = 'evt_01JTEST';
  const signature = new Webhook(secret).sign(id, at, body);
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature };
}

const rejects = (promise: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(promise, (error: unknown) => error instanceof WebhookVerificationError && pattern.test(error.message));

test('a body signed by the standardwebhooks reference implementation verifies and is returned parsed', async () => {
  const body = JSON.stringify({ id: 'evt_1', event: 'messages.upsert', data: { text: 'olá' } });
  const headers = signed(body);
  assert.deepEqual(await client.webhooks.verify(body, headers, secret), JSON.parse(body));
  assert.deepEqual(await client.webhooks.verify(new TextEncoder().encode(body), new Headers(headers), secret), JSON.parse(body));
  const rotated = { ...headers, 'webhook-signature': `v1,b2xkLXNpZ25hdHVyZQ== ${headers['webhook-signature']}` };
  assert.ok(await client.webhooks.verify(body, rotated, secret), 'one matching signature among several is enough');
});

test('a changed body, another secret, a stale timestamp or missing headers are rejected', async () => {
  const body = '{"id":"evt_1"}';
  const headers = signed(body);
  await rejects(client.webhooks.verify('{"id":"evt_2"}', headers, secret), /no matching signature/);
  const other = `whsec_${Buffer.from('another secret of 32 bytes......').toString('base64')}`;
  await rejects(client.webhooks.verify(body, headers, other), /no matching signature/);
  const old = signed(body, new Date(Date.now() - 10 * 60_000));
  await rejects(client.webhooks.verify(body, old, secret), /too old/);
  await rejects(client.webhooks.verify(body, { 'webhook-id': 'x' }, secret), /missing/);
  await rejects(client.webhooks.verify(body, { ...headers, 'webhook-signature': headers['webhook-signature']!.replace('v1,', 'v2,') }, secret), /no matching/);
  // A body that is signed but not JSON is still a verification error (one type for the caller to catch), not a SyntaxError.
  await rejects(client.webhooks.verify('not json', signed('not json'), secret), /not JSON/);
});

test('during a secret rotation (one signature per secret, space-separated) either secret verifies; a third does not', async () => {
  const next = `whsec_${Buffer.from('the next secret, 32 bytes long!!').toString('base64')}`;
  const body = '{"id":"evt_rotated"}';
  const at = new Date();
  const id = 'evt_rotated';
  const both = `${new Webhook(next).sign(id, at, body)} ${new Webhook(secret).sign(id, at, body)}`;
  const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': both };
  assert.deepEqual(await client.webhooks.verify(body, headers, next), { id: 'evt_rotated' });
  assert.deepEqual(await client.webhooks.verify(body, headers, secret), { id: 'evt_rotated' });
  const third = `whsec_${Buffer.from('a third secret that signs nothing').toString('base64')}`;
  await rejects(client.webhooks.verify(body, headers, third), /no matching signature/);
  const onlyNext = { ...headers, 'webhook-signature': new Webhook(next).sign(id, at, body) };
  await rejects(client.webhooks.verify(body, onlyNext, secret), /no matching signature/);
});
