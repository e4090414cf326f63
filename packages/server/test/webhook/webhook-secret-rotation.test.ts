import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { rotated } from '../../src/channels/webhook/webhook-secret-rotation.ts';
import { parseWebhookSettings } from '../../src/channels/webhook/webhook-config.ts';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { receiverFor, type Received } from './http-receiver.ts';
import { emit, instanceWithWebhook, message } from './webhook-fixtures.ts';

const OLD = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const GIVEN = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

let pombo: Harness;
before(async () => {
  pombo = await startPombo();
});
after(() => pombo.close());

const verifies = (secret: string, request: Received): boolean => {
  try {
    new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
};

test('during the overlap both secrets sign and either verifies with standardwebhooks; after it only the new one', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, secret: OLD });
  const rotation = await pombo.api('POST', `/webhook/rotate-secret/${instance.name}`, { overlapSeconds: 2 });
  assert.equal(rotation.status, 200, JSON.stringify(rotation.body));
  const fresh: string = rotation.body.secret;
  assert.match(fresh, /^whsec_/);
  assert.notEqual(fresh, OLD);
  assert.equal(rotation.body.endpoint, null);
  const expiresAt = Date.parse(rotation.body.previousSecretExpiresAt);
  assert.ok(Math.abs(expiresAt - (Date.now() + 2000)) < 1000, 'the overlap ends in 2 s');
  const found = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(found.secret, `whsec_…${fresh.slice(-4)}`);
  assert.equal(found.previousSecret, `whsec_…${OLD.slice(-4)}`);

  const [during] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'during')]);
  const first = await eventually(() => receiver.requests.find((request) => request.json?.id === during), 'the request during the overlap');
  assert.equal(String(first.headers['webhook-signature']).split(' ').length, 2, 'two signatures, space-separated');
  assert.ok(verifies(fresh, first), 'the new secret verifies');
  assert.ok(verifies(OLD, first), 'the old secret still verifies');

  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 50));
  const [later] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'after')]);
  const second = await eventually(() => receiver.requests.find((request) => request.json?.id === later), 'the request after the overlap');
  assert.equal(String(second.headers['webhook-signature']).split(' ').length, 1);
  assert.ok(verifies(fresh, second), 'the new secret verifies');
  assert.equal(verifies(OLD, second), false, 'the old secret no longer verifies');
  const afterwards = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(afterwards.previousSecret, null, 'an ended overlap is not shown');
});

test('an endpoint rotates to a given secret; overlapSeconds 0 switches at once; a hand-set secret ends an overlap', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const endpoint = (await pombo.api('POST', `/webhook/endpoints/${instance.name}`, { url: receiver.url, secret: OLD })).body;
  const rotation = await pombo.api('POST', `/webhook/rotate-secret/${instance.name}?endpoint=${endpoint.id}`, { secret: GIVEN, overlapSeconds: 0 });
  assert.equal(rotation.status, 200, JSON.stringify(rotation.body));
  assert.deepEqual(rotation.body, { endpoint: endpoint.id, secret: GIVEN, previousSecretExpiresAt: null });
  const [id] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'switch')]);
  const request = await eventually(() => receiver.requests.find((r) => r.json?.id === id), 'the request');
  assert.ok(verifies(GIVEN, request));
  assert.equal(verifies(OLD, request), false);

  await pombo.api('POST', `/webhook/rotate-secret/${instance.name}?endpoint=${endpoint.id}`, { secret: OLD, overlapSeconds: 3600 });
  const patched = await pombo.api('PATCH', `/webhook/endpoints/${instance.name}/${endpoint.id}`, { secret: GIVEN });
  assert.equal(patched.body.previousSecret, null, 'setting a secret by hand replaces it at once');
});

test('rotation refuses a malformed secret or overlap, an unknown endpoint, and an instance without a webhook', async () => {
  const instance = await instanceWithWebhook(pombo, { url: 'http://127.0.0.1:9/x', enabled: false });
  const badSecret = await pombo.api('POST', `/webhook/rotate-secret/${instance.name}`, { secret: 'not-a-secret' });
  assert.equal(badSecret.status, 400);
  assert.match(badSecret.body.response.message[0], /^secret must be a Standard Webhooks secret/);
  const badOverlap = await pombo.api('POST', `/webhook/rotate-secret/${instance.name}`, { overlapSeconds: -1 });
  assert.equal(badOverlap.status, 400);
  assert.match(badOverlap.body.response.message[0], /overlapSeconds must be an integer between 0 and 2592000/);
  assert.equal((await pombo.api('POST', `/webhook/rotate-secret/${instance.name}?endpoint=ep_nope`, {})).status, 404);
  const created = await pombo.api('POST', '/instance/create', { instanceName: `${instance.name}-bare`, integration: 'INGEST' });
  assert.equal(created.status, 201);
  const none = await pombo.api('POST', `/webhook/rotate-secret/${instance.name}-bare`);
  assert.equal(none.status, 409);
  assert.equal(none.body.code, 'POMBO_ERR_WEBHOOK_NOT_SET');
});

test('rotated(): the replaced secret overlaps only when there was one and the overlap is positive', () => {
  const signed = { ...parseWebhookSettings({ url: 'http://x.test/', secret: OLD }, 'w', { headersMax: 32, headersMaxBytes: 8192, urlRefusal: () => undefined }) };
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.deepEqual(
    [rotated(signed, GIVEN, 60_000, now).previousSecret, rotated(signed, GIVEN, 60_000, now).previousSecretExpiresAt],
    [OLD, '2025-01-01T00:01:00.000Z'],
  );
  assert.equal(rotated(signed, GIVEN, 0, now).previousSecret, null);
  assert.equal(rotated({ ...signed, secret: null }, GIVEN, 60_000, now).previousSecret, null);
  assert.equal(rotated(signed, OLD, 60_000, now).previousSecret ?? null, null, 'the same secret again overlaps nothing');
  // The same rotation sent again (a client that retried after a timeout) leaves the overlap as it is.
  const once = rotated(signed, GIVEN, 60_000, now);
  const again = rotated(once, GIVEN, 60_000, now + 5000);
  assert.deepEqual([again.secret, again.previousSecret, again.previousSecretExpiresAt], [GIVEN, OLD, '2025-01-01T00:01:00.000Z']);
});
