import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { receiverFor } from './http-receiver.ts';
import { emit, FAST_RETRIES, instanceWithWebhook, message, type TestInstance } from './webhook-fixtures.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo({ ...FAST_RETRIES, WEBHOOK_RETRY_MAX_ATTEMPTS: '2', WEBHOOK_MAX_ENDPOINTS_PER_INSTANCE: '3' });
});
after(() => pombo.close());

const create = (instance: TestInstance, body: unknown, key?: string) => pombo.api('POST', `/webhook/endpoints/${instance.name}`, body, key);
const idle = (instance: TestInstance, endpointId: string) => pombo.pombo.context.dispatcher.whenIdle(`webhook:${instance.id}:${endpointId}`);

test('endpoints are created, listed, read, changed and deleted; each gets its own events and a generated secret', async (t) => {
  const seed = await receiverFor(t);
  const messages = await receiverFor(t);
  const connections = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { url: seed.url, events: ['CONNECTION_UPDATE'] });
  const first = await create(instance, { url: `${messages.url}/m`, events: ['MESSAGES_UPSERT'], description: 'CRM' });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  assert.match(first.body.id, /^ep_[0-9A-Z]{26}$/);
  assert.equal(first.body.description, 'CRM');
  assert.match(first.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/, 'a secret is generated and shown once');
  const second = await create(instance, { url: connections.url, events: ['connection.update'], secret: null });
  assert.equal(second.status, 201);
  assert.equal(second.body.secret, null, 'secret: null asks for unsigned requests');

  const list = await pombo.api('GET', `/webhook/endpoints/${instance.name}`);
  assert.deepEqual(list.body.endpoints.map((endpoint: { id: string }) => endpoint.id), [first.body.id, second.body.id]);
  assert.equal(list.body.max, 3);
  assert.equal(list.body.endpoints[0].secret, `whsec_…${first.body.secret.slice(-4)}`, 'listed secrets are masked');
  const one = await pombo.api('GET', `/webhook/endpoints/${instance.name}/${first.body.id}`);
  assert.equal(one.body.url, `${messages.url}/m`);
  assert.equal(one.body.state.health, 'healthy');

  const [upsert, connection] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'e1'), { event: 'CONNECTION_UPDATE', data: { state: 'open' } }]);
  await eventually(() => messages.accepted().length === 1 && connections.accepted().length === 1 && seed.accepted().length === 1, 'each webhook its event');
  assert.deepEqual(messages.deliveredIds(), [upsert]);
  assert.deepEqual(connections.deliveredIds(), [connection]);
  assert.deepEqual(seed.deliveredIds(), [connection], 'the default webhook works as before');
  const signed = messages.requests[0];
  assert.ok(signed);
  assert.equal((new Webhook(first.body.secret).verify(signed.body, signed.headers as Record<string, string>) as { id: string }).id, upsert);
  assert.equal(connections.requests[0]?.headers['webhook-signature'], undefined);

  const patched = await pombo.api('PATCH', `/webhook/endpoints/${instance.name}/${first.body.id}`, { url: `${messages.url}/moved`, headers: { 'X-Tenant': 'acme' } });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.url, `${messages.url}/moved`);
  assert.deepEqual(patched.body.events, ['MESSAGES_UPSERT'], 'fields left out are kept');
  assert.equal(patched.body.description, 'CRM');
  const [moved] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'e2')]);
  const request = await eventually(() => messages.requests.find((r) => r.json?.id === moved), 'the event at the new URL');
  assert.equal(request.url, '/moved');
  assert.equal(request.headers['x-tenant'], 'acme');
  assert.ok(new Webhook(first.body.secret).verify(request.body, request.headers as Record<string, string>), 'the secret is kept');

  const removed = await pombo.api('DELETE', `/webhook/endpoints/${instance.name}/${first.body.id}`);
  assert.equal(removed.status, 204);
  const store = pombo.pombo.context.store;
  assert.equal(await store.getCursor(`webhook:${instance.id}:${first.body.id}`), undefined, 'its cursor is deleted');
  assert.equal((await store.listDeliveries({ destination: `webhook:${instance.id}:${first.body.id}`, limit: 10 })).length, 0, 'its delivery log too');
  assert.equal((await pombo.api('GET', `/webhook/endpoints/${instance.name}/${first.body.id}`)).status, 404);
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'e3')]);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(messages.requests.length, 2, 'a deleted endpoint receives nothing more');
});

test('a dead endpoint never delays another endpoint of the same instance', async (t) => {
  const healthy = await receiverFor(t);
  const dead = await receiverFor(t, () => ({ hang: true }));
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const stuck = await create(instance, { url: dead.url, maxInFlight: 1, ordering: 'instance' });
  const fine = await create(instance, { url: healthy.url });
  assert.equal(stuck.status, 201);
  const ids = await emit(pombo, instance, Array.from({ length: 20 }, (_, n) => message('a@s.whatsapp.net', `iso-${n}`)));
  await eventually(() => healthy.accepted().length === 20, 'every event at the healthy endpoint', 3000);
  assert.deepEqual(healthy.deliveredIds().sort(), [...ids].sort());
  assert.equal(dead.requests.length, 1, 'the hanging endpoint holds its one request, in order');
  await idle(instance, fine.body.id);
});

test('the delivery log and replay take an endpoint selector', async (t) => {
  let failing = true;
  const receiver = await receiverFor(t, () => ({ status: failing ? 500 : 200 }));
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const endpoint = (await create(instance, { url: receiver.url })).body;
  const [id] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'dl')]);
  const path = `/webhook/deliveries/${instance.name}?endpoint=${endpoint.id}&status=failed`;
  const failed = await eventually(async () => (await pombo.api('GET', path)).body.deliveries[0], 'the dead letter of the endpoint');
  assert.equal(failed.id, id);
  assert.equal(failed.attempts.length, 2);
  assert.deepEqual((await pombo.api('GET', `/webhook/deliveries/${instance.name}`)).body.deliveries, [], 'the default webhook has none');
  failing = false;
  const replay = await pombo.api('POST', `/webhook/replay/${instance.name}?endpoint=${endpoint.id}`, { status: 'failed' });
  assert.equal(replay.status, 202, JSON.stringify(replay.body));
  assert.equal(replay.body.replayed, 1);
  await eventually(() => receiver.accepted().length === 1, 'the replayed event');
  assert.equal((await pombo.api('POST', `/webhook/replay/${instance.name}`, { status: 'failed' })).body.code, 'POMBO_ERR_WEBHOOK_NOT_SET');
  const unknown = await pombo.api('GET', `/webhook/deliveries/${instance.name}?endpoint=ep_nope`);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.code, 'POMBO_ERR_NOT_FOUND');
  await pombo.api('PATCH', `/webhook/endpoints/${instance.name}/${endpoint.id}`, { enabled: false });
  const paused = await pombo.api('POST', `/webhook/replay/${instance.name}?endpoint=${endpoint.id}`, { status: 'failed' });
  assert.equal(paused.status, 409);
  assert.equal(paused.body.code, 'POMBO_ERR_WEBHOOK_ENDPOINT_DISABLED');
});

test('bad input, the endpoint limit and foreign tokens are refused with actionable errors', async () => {
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const bad = await create(instance, { url: 'ftp://example.com' });
  assert.equal(bad.status, 400);
  assert.match(bad.body.response.message[0], /endpoint\.url must be an absolute http/);
  for (let n = 0; n < 3; n++) assert.equal((await create(instance, { url: `http://127.0.0.1:9/${n}`, enabled: false })).status, 201);
  const over = await create(instance, { url: 'http://127.0.0.1:9/x' });
  assert.equal(over.status, 409);
  assert.equal(over.body.code, 'POMBO_ERR_WEBHOOK_ENDPOINT_LIMIT');
  const other = await instanceWithWebhook(pombo, { enabled: false });
  const token = (await pombo.api('GET', `/instance/fetchInstances?instanceName=${other.name}`)).body[0].token;
  assert.equal((await pombo.api('GET', `/webhook/endpoints/${instance.name}`, undefined, token)).status, 403);
  assert.equal((await pombo.api('GET', `/webhook/endpoints/${other.name}`, undefined, token)).status, 200);
  const patch = await pombo.api('PATCH', `/webhook/endpoints/${instance.name}/ep_missing`, { enabled: true });
  assert.equal(patch.status, 404);
});

test('deleting the instance deletes the state of its endpoints', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const endpoint = (await create(instance, { url: receiver.url })).body;
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'gone')]);
  await eventually(() => receiver.accepted().length === 1, 'the event');
  const destination = `webhook:${instance.id}:${endpoint.id}`;
  await eventually(async () => (await pombo.pombo.context.store.listDeliveries({ destination, limit: 10 })).length === 1, 'its delivery record');
  assert.equal((await pombo.api('DELETE', `/instance/delete/${instance.name}`)).status, 200);
  await eventually(async () => (await pombo.pombo.context.store.getCursor(destination)) === undefined, 'its cursor deleted');
  assert.equal((await pombo.pombo.context.store.listDeliveries({ destination, limit: 10 })).length, 0);
  assert.equal(pombo.pombo.context.dispatcher.has(destination), false);
});

test('an endpoint disabled by PATCH (or created disabled) skips, once PATCHed enabled, what was stored while it was off, as the default webhook does; POST /webhook/enable sends it', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const endpoint = (await create(instance, { url: receiver.url, events: ['MESSAGES_UPSERT'], secret: null })).body;
  const patch = (id: string, body: unknown) => pombo.api('PATCH', `/webhook/endpoints/${instance.name}/${id}`, body);
  const [before] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'before')]);
  await eventually(() => receiver.deliveredIds().includes(before as string), 'the event sent before the pause');

  const disabled = await patch(endpoint.id, { enabled: false });
  assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
  assert.equal(typeof disabled.body.pausedAt, 'string', 'the pause shows');
  const [whileOff] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'off')]);
  const enabled = await patch(endpoint.id, { enabled: true });
  assert.equal(enabled.body.pausedAt, null);
  const [afterwards] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'after')]);
  await eventually(() => receiver.deliveredIds().includes(afterwards as string), 'the event stored after it was enabled');
  await idle(instance, endpoint.id);
  assert.deepEqual(receiver.deliveredIds(), [before, afterwards], 'nothing stored while it was off was sent');

  // Created disabled, then PATCHed enabled: the same.
  const late = (await create(instance, { url: `${receiver.url}/late`, events: ['MESSAGES_UPSERT'], secret: null, enabled: false })).body;
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'late off')]);
  await patch(late.id, { enabled: true });
  const [first] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'late on')]);
  await eventually(() => receiver.requests.some((r) => r.url === '/late' && r.json?.id === first), 'the first event after enabling it');
  await idle(instance, late.id);
  assert.deepEqual(receiver.requests.filter((r) => r.url === '/late').map((r) => r.json?.id), [first]);

  // POST /webhook/enable is the explicit resume: what was stored while it was off is sent.
  await patch(endpoint.id, { enabled: false });
  const [owed] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'owed')]);
  assert.equal((await pombo.api('POST', `/webhook/enable/${instance.name}?endpoint=${endpoint.id}`)).status, 200);
  await eventually(() => receiver.deliveredIds().includes(owed as string), 'the event stored while it was off, on an explicit resume');
  assert.ok(!receiver.deliveredIds().includes(whileOff as string));
});
