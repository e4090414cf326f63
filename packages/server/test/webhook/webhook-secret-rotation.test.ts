import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook } from '../../../sdk/src/webhooks/verify.ts';
import { rotated } from '../../src/channels/webhook/webhook-secret-rotation.ts';
import { maskedSettings, parseWebhookSettings, type WebhookSettings } from '../../src/channels/webhook/webhook-config.ts';
import { MAX_PREVIOUS_SECRETS, previousSecretsOf } from '../../src/channels/webhook/webhook-previous-secrets.ts';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { receiverFor, type Received } from './http-receiver.ts';
import { emit, instanceWithWebhook, message } from './webhook-fixtures.ts';

const OLD = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const GIVEN = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const THIRD = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
const FOURTH = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;

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
  assert.deepEqual(found.previousSecrets, [{ secret: `whsec_…${OLD.slice(-4)}`, expiresAt: rotation.body.previousSecretExpiresAt }]);
  assert.deepEqual([found.previousSecret, found.previousSecretExpiresAt], [`whsec_…${OLD.slice(-4)}`, rotation.body.previousSecretExpiresAt], 'and under the single names it had before');

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
  assert.deepEqual(afterwards.previousSecrets, [], 'an ended overlap is not shown');
  assert.deepEqual([afterwards.previousSecret, afterwards.previousSecretExpiresAt], [null, null]);
});

test('rotating again during an overlap keeps every secret still overlapping signing; overlapSeconds 0 then stops them all', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, secret: OLD });
  const rotate = (body: Record<string, unknown>) => pombo.api('POST', `/webhook/rotate-secret/${instance.name}`, body);
  assert.equal((await rotate({ secret: GIVEN, overlapSeconds: 60 })).status, 200);
  const second = await rotate({ secret: THIRD, overlapSeconds: 60 });
  assert.equal(second.status, 200, JSON.stringify(second.body));

  const [during] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'twice')]);
  const request = await eventually(() => receiver.requests.find((r) => r.json?.id === during), 'the request after two rotations');
  for (const [secret, name] of [[THIRD, 'the newest'], [GIVEN, 'the one rotated out last'], [OLD, 'the first, whose overlap goes on']] as const) {
    assert.ok(verifies(secret, request), `${name} verifies (standardwebhooks)`);
    assert.ok(await verifyWebhook(request.body, request.headers as Record<string, string>, secret), `${name} verifies (Pombo's SDK)`);
  }
  assert.equal(String(request.headers['webhook-signature']).split(' ').length, 3, 'one signature per secret, space-separated');
  const masked = [GIVEN, OLD].map((secret) => `whsec_…${secret.slice(-4)}`);
  assert.deepEqual(second.body.previousSecrets.map((previous: { secret: string }) => previous.secret), masked, 'the answer lists them, newest first');
  const found = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.deepEqual(found.previousSecrets.map((previous: { secret: string }) => previous.secret), masked, 'find too');

  const now = await rotate({ secret: FOURTH, overlapSeconds: 0 });
  assert.deepEqual([now.body.previousSecrets, now.body.previousSecretExpiresAt], [[], null]);
  const [later] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'at-once')]);
  const only = await eventually(() => receiver.requests.find((r) => r.json?.id === later), 'the request after switching at once');
  assert.equal(String(only.headers['webhook-signature']).split(' ').length, 1);
  assert.ok(verifies(FOURTH, only));
  assert.deepEqual([OLD, GIVEN, THIRD].filter((secret) => verifies(secret, only)), [], 'no earlier secret signs any more');
});

test('an endpoint rotates to a given secret; overlapSeconds 0 switches at once; a hand-set secret ends an overlap', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const endpoint = (await pombo.api('POST', `/webhook/endpoints/${instance.name}`, { url: receiver.url, secret: OLD })).body;
  const rotation = await pombo.api('POST', `/webhook/rotate-secret/${instance.name}?endpoint=${endpoint.id}`, { secret: GIVEN, overlapSeconds: 0 });
  assert.equal(rotation.status, 200, JSON.stringify(rotation.body));
  assert.deepEqual(rotation.body, { endpoint: endpoint.id, secret: GIVEN, previousSecretExpiresAt: null, previousSecrets: [] });
  const [id] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'switch')]);
  const request = await eventually(() => receiver.requests.find((r) => r.json?.id === id), 'the request');
  assert.ok(verifies(GIVEN, request));
  assert.equal(verifies(OLD, request), false);

  await pombo.api('POST', `/webhook/rotate-secret/${instance.name}?endpoint=${endpoint.id}`, { secret: OLD, overlapSeconds: 3600 });
  const patched = await pombo.api('PATCH', `/webhook/endpoints/${instance.name}/${endpoint.id}`, { secret: GIVEN });
  assert.deepEqual(patched.body.previousSecrets, [], 'setting a secret by hand replaces it at once');
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

const RULES = { headersMax: 32, headersMaxBytes: 8192, urlRefusal: () => undefined, resolvedUrlRefusal: async () => undefined };
const signedWith = (secret: string) => parseWebhookSettings({ url: 'http://x.test/', secret }, 'w', RULES);
const T0 = Date.parse('2025-01-01T00:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const previous = (settings: WebhookSettings, now = T0) => previousSecretsOf(settings, now).map(({ secret, expiresAt }) => [secret, expiresAt]);

test('rotated(): the replaced secret overlaps only when there was one and the overlap is positive', () => {
  const signed = signedWith(OLD);
  assert.deepEqual(previous(rotated(signed, GIVEN, 60_000, T0)), [[OLD, at(60)]]);
  assert.deepEqual(previous(rotated(signed, GIVEN, 0, T0)), []);
  assert.deepEqual(previous(rotated({ ...signed, secret: null }, GIVEN, 60_000, T0)), []);
  assert.deepEqual(previous(rotated(signed, OLD, 60_000, T0)), [], 'the same secret again overlaps nothing');
  // The same rotation sent again (a client that retried after a timeout) leaves the overlap as it is.
  const once = rotated(signed, GIVEN, 60_000, T0);
  const again = rotated(once, GIVEN, 60_000, T0 + 5000);
  assert.deepEqual([again.secret, previous(again)], [GIVEN, [[OLD, at(60)]]]);
});

test('rotated() again during an overlap: earlier secrets keep signing, never past a newer one, at most MAX_PREVIOUS_SECRETS', () => {
  const first = rotated(signedWith(OLD), GIVEN, 3600_000, T0);
  const second = rotated(first, THIRD, 600_000, T0 + 60_000);
  assert.deepEqual(previous(second), [[GIVEN, at(660)], [OLD, at(660)]], 'the first overlap ends with the shorter one that follows');
  const longer = rotated(first, THIRD, 7200_000, T0 + 60_000);
  assert.deepEqual(previous(longer), [[GIVEN, at(7260)], [OLD, at(3600)]], 'and is never made longer');
  assert.deepEqual(previous(rotated(second, GIVEN, 600_000, T0 + 120_000)), [[THIRD, at(720)], [OLD, at(660)]], 'a secret rotated back to signs once, as the current one');
  assert.deepEqual(previous(rotated(second, FOURTH, 600_000, T0 + 700_000), T0 + 700_000), [[THIRD, at(1300)]], 'an ended overlap is not carried');

  let settings = signedWith(OLD);
  const secrets = [GIVEN, THIRD, FOURTH, `whsec_${Buffer.alloc(32, 1).toString('base64')}`, `whsec_${Buffer.alloc(32, 2).toString('base64')}`];
  for (const [n, secret] of secrets.entries()) settings = rotated(settings, secret, 3600_000, T0 + n * 1000);
  assert.deepEqual(previousSecretsOf(settings, T0).map((kept) => kept.secret), secrets.slice(1, 4).reverse(), `the ${MAX_PREVIOUS_SECRETS} newest rotated out are kept`);
});

test('settings stored with one previous secret (before several were kept): it signs until its overlap ends, masked in find', () => {
  const stored: WebhookSettings = { ...signedWith(GIVEN), previousSecret: OLD, previousSecretExpiresAt: at(60) };
  assert.deepEqual(previous(stored), [[OLD, at(60)]]);
  assert.deepEqual(previous(stored, T0 + 60_000), [], 'until its overlap ends');
  const overlapping = { ...stored, previousSecretExpiresAt: new Date(Date.now() + 60_000).toISOString() };
  const shown = maskedSettings(overlapping);
  assert.ok(!JSON.stringify(shown).includes(OLD), 'never shown in full');
  assert.deepEqual(shown.previousSecrets, [{ secret: `whsec_…${OLD.slice(-4)}`, expiresAt: overlapping.previousSecretExpiresAt }]);
  const next = rotated(stored, THIRD, 600_000, T0);
  assert.deepEqual(previous(next), [[GIVEN, at(600)], [OLD, at(60)]], 'a rotation carries it into the list');
  assert.deepEqual([next.previousSecret, next.previousSecretExpiresAt], [undefined, undefined], 'and stores the list only');
});
