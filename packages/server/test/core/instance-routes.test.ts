import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { assertError, logOf } from './http-assert.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo();
});
after(async () => {
  await pombo.close();
});

const create = (body: Record<string, unknown>, key?: string) => pombo.api('POST', '/instance/create', body, key);
const names = async (key?: string) => ((await pombo.api('GET', '/instance/fetchInstances', undefined, key)).body as any[]).map((i) => i.name);

describe('POST /instance/create', () => {
  test('answers Evolution API’s shape with the token as hash, and logs INSTANCE_CREATE', async () => {
    const name = uniqueName('create');
    const created = await create({ instanceName: name, integration: 'INGEST' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { instance, hash } = created.body;
    assert.deepEqual(Object.keys(instance).sort(), ['accessTokenWaBusiness', 'instanceId', 'instanceName', 'integration', 'status', 'webhookWaBusiness']);
    assert.equal(instance.instanceName, name);
    assert.equal(instance.integration, 'INGEST');
    assert.equal(instance.status, 'close');
    assert.match(instance.instanceId, /^[0-9a-f-]{36}$/);
    assert.equal(typeof hash, 'string');
    assert.ok(hash.length >= 16);
    const log = await logOf(pombo, name);
    assert.deepEqual(log.map((e) => [e.event, e.seq]), [['instance.create', 1]]);
    assert.deepEqual(log[0].data, { instanceName: name, instanceId: instance.instanceId });
    const byToken = await pombo.api('GET', `/instance/connectionState/${name}`, undefined, hash);
    assert.deepEqual(byToken.body, { instance: { instanceName: name, state: 'close' } }, 'the hash is the instance’s key');
  });

  test('defaults to the sandbox; qrcode:true connects at once and returns the QR code', async () => {
    const name = uniqueName('qr');
    const created = await create({ instanceName: name, qrcode: true });
    assert.equal(created.status, 201);
    assert.equal(created.body.instance.integration, 'SANDBOX');
    assert.equal(created.body.instance.status, 'open');
    assert.match(created.body.qrcode.code, /^2@/);
    assert.match(created.body.qrcode.base64, /^data:image\/png;base64,/);
  });

  test('accepts Evolution API’s integrations: WHATSAPP-BAILEYS is a sandbox number, WHATSAPP-BUSINESS and EVOLUTION are fed by ingest', async () => {
    const baileys = uniqueName('baileys');
    const created = await create({ instanceName: baileys, integration: 'WHATSAPP-BAILEYS', qrcode: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.instance.integration, 'WHATSAPP-BAILEYS', 'kept as the client sent it');
    assert.equal(created.body.instance.status, 'open', 'connected by the sandbox');
    assert.match(created.body.qrcode.base64, /^data:image\/png;base64,/);
    const friend = uniqueName('friend');
    await pombo.sandbox(friend, { number: '5511955550001' });
    assert.equal((await pombo.api('POST', `/message/sendText/${baileys}`, { number: '5511955550001', text: 'oi' })).status, 201);
    assert.deepEqual((await logOf(pombo, friend)).map((e) => e.event).at(-1), 'messages.upsert');

    for (const integration of ['WHATSAPP-BUSINESS', 'EVOLUTION', 'whatsapp-baileys']) {
      const name = uniqueName('evo');
      const made = await create({ instanceName: name, integration, number: '123456789012345', qrcode: true });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.instance.integration, integration.toUpperCase());
    }
    const business = uniqueName('business');
    assert.equal((await create({ instanceName: business, integration: 'WHATSAPP-BUSINESS', number: '123456789012345' })).status, 201);
    assertError(await pombo.api('GET', `/instance/connect/${business}`), 400, 'POMBO_ERR_WRONG_INTEGRATION', /WHATSAPP-BUSINESS/);
    const ingested = await pombo.api('POST', `/events/${business}`, { event: 'MESSAGES_UPSERT', data: { key: { id: 'x' } } });
    assert.equal(ingested.status, 201);
    assertError(await create({ instanceName: uniqueName('nonumber'), integration: 'WHATSAPP-BUSINESS' }), 400, 'POMBO_ERR_VALIDATION', /number is required for WHATSAPP-BUSINESS/);
    assertError(await create({ instanceName: uniqueName('bad'), integration: 'TELEGRAM' }), 400, 'POMBO_ERR_VALIDATION', /integration must be one of SANDBOX, INGEST, WHATSAPP-BAILEYS, WHATSAPP-BUSINESS, EVOLUTION/);
    const listed = ((await pombo.api('GET', `/instance/fetchInstances?instanceName=${baileys}`)).body as any[])[0];
    assert.equal(listed.integration, 'WHATSAPP-BAILEYS');
  });

  test('stores the nested channel configurations of seed 001', async () => {
    const name = uniqueName('nested');
    const body = {
      instanceName: name,
      integration: 'INGEST',
      webhook: { enabled: false, url: 'https://example.com/hook', events: ['MESSAGES_UPSERT'], byEvents: false, base64: false },
      websocket: { enabled: false, events: [] },
      rabbitmq: { enabled: false, events: ['MESSAGES_UPSERT'] },
      sqs: { enabled: false, events: [] },
      kafka: { enabled: false, events: [] },
      nats: { enabled: false, events: [] },
      pusher: { enabled: false, appId: '1', key: 'k', secret: 's', cluster: 'us2', useTLS: true, events: [] },
    };
    const created = await create(body);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const stored = await pombo.pombo.context.store.getInstance(name);
    assert.deepEqual(Object.keys(stored?.channels ?? {}).sort(), ['kafka', 'nats', 'pusher', 'rabbitmq', 'sqs', 'webhook', 'websocket']);
    for (const key of ['webhook', 'rabbitmq']) assert.ok(key in created.body, `the response describes ${key}`);
  });

  test('rejects names that cannot be routing keys, naming the field, and creates nothing', async () => {
    const before = await names();
    for (const instanceName of ['a.b', 'a b', '../x', 'a/b', '', 'é', 'x'.repeat(65), 5, null, ['a']]) {
      assertError(await create({ instanceName }), 400, 'POMBO_ERR_VALIDATION', /instanceName must be 1 to 64 letters, digits, "-" or "_"/);
    }
    assertError(await create({}), 400, 'POMBO_ERR_VALIDATION', /instanceName/);
    assert.deepEqual(await names(), before);
  });

  test('a name already in use is a 403 with Evolution API’s message', async () => {
    const name = uniqueName('dup');
    assert.equal((await create({ instanceName: name })).status, 201);
    assertError(await create({ instanceName: name }), 403, 'POMBO_ERR_INSTANCE_EXISTS', new RegExp(`This name "${name}" is already in use.`));
    assert.equal((await logOf(pombo, name)).length, 1, 'the refused create logged nothing');
  });

  test('concurrent creates of one name: one succeeds, the others get the 403, never a 500', async () => {
    const name = uniqueName('race');
    const results = await Promise.all(Array.from({ length: 8 }, () => create({ instanceName: name })));
    assert.deepEqual(results.map((r) => r.status).sort(), [201, 403, 403, 403, 403, 403, 403, 403]);
    for (const result of results.filter((r) => r.status !== 201)) assertError(result, 403, 'POMBO_ERR_INSTANCE_EXISTS');
    assert.equal((await logOf(pombo, name)).length, 1);
  });

  test('a name another node took in the shared store is a 403 too, not a 500', async () => {
    const name = uniqueName('node');
    const store = pombo.pombo.context.store;
    await store.createInstance({ id: randomUUID(), name, token: randomUUID(), integration: 'INGEST', number: null, channels: {} });
    assertError(await create({ instanceName: name }), 403, 'POMBO_ERR_INSTANCE_EXISTS');
  });

  test('a chosen token works as the instance key; weak or reused tokens are refused', async () => {
    const token = `my-own-token-${randomBytes(8).toString('hex')}`;
    const name = uniqueName('token');
    const created = await create({ instanceName: name, token });
    assert.equal(created.body.hash, token);
    assert.equal((await pombo.api('GET', `/instance/connectionState/${name}`, undefined, token)).status, 200);
    assertError(await create({ instanceName: uniqueName('t'), token: 'short' }), 400, 'POMBO_ERR_VALIDATION', /token must be at least 16 characters/);
    assertError(await create({ instanceName: uniqueName('t'), token }), 400, 'POMBO_ERR_VALIDATION', /token is already in use/);
    assertError(await create({ instanceName: uniqueName('t'), token: pombo.apiKey }), 400, 'POMBO_ERR_VALIDATION', /token is already in use/);
    assertError(await create({ instanceName: uniqueName('t'), token: 12345678901234567 }), 400, 'POMBO_ERR_VALIDATION', /token must be a string/);
  });

  test('integration and number are validated', async () => {
    assertError(await create({ instanceName: uniqueName('i'), integration: 'TELEGRAM' }), 400, 'POMBO_ERR_VALIDATION', /integration must be one of SANDBOX, INGEST/);
    assertError(await create({ instanceName: uniqueName('n'), number: 'abc' }), 400, 'POMBO_ERR_VALIDATION', /number must be 8 to 15 digits/);
    assertError(await create({ instanceName: uniqueName('n'), number: 5511999990000 }), 400, 'POMBO_ERR_VALIDATION', /number must be a string/);
    const lower = await create({ instanceName: uniqueName('i'), integration: 'ingest', number: '5511999990000' });
    assert.equal(lower.body.instance.integration, 'INGEST');
  });

  test('needs the global key', async () => {
    const { token } = await pombo.sandbox(uniqueName('holder'));
    const name = uniqueName('nokey');
    assertError(await create({ instanceName: name }, token), 403, 'POMBO_ERR_FORBIDDEN', /global API key/);
    assertError(await pombo.api('POST', '/instance/create', { instanceName: name }, null), 401, 'POMBO_ERR_UNAUTHORIZED');
    assert.ok(!(await names()).includes(name));
  });
});

describe('GET /instance/fetchInstances', () => {
  test('the global key sees every instance; an instance token only its own', async () => {
    const a = uniqueName('fa');
    const b = uniqueName('fb');
    const { token } = await pombo.sandbox(a);
    await pombo.sandbox(b);
    const all = await names();
    assert.ok(all.includes(a) && all.includes(b));
    const own = (await pombo.api('GET', '/instance/fetchInstances', undefined, token)).body;
    assert.equal(own.length, 1);
    assert.equal(own[0].name, a);
    assert.equal(own[0].connectionStatus, 'open');
    assert.equal(own[0].integration, 'SANDBOX');
    assert.match(own[0].ownerJid, /^\d+@s\.whatsapp\.net$/);
    assert.equal(own[0].token, token);
    assert.deepEqual(await names(), all, 'listing changes nothing');
  });

  test('filters by instanceName', async () => {
    const a = uniqueName('filter');
    await pombo.sandbox(a);
    const filtered = await pombo.api('GET', `/instance/fetchInstances?instanceName=${a}`);
    assert.deepEqual(filtered.body.map((i: any) => i.name), [a]);
  });
});

describe('connection lifecycle', () => {
  test('connect emits QRCODE_UPDATED then CONNECTION_UPDATE open; connecting again emits nothing', async () => {
    const name = uniqueName('connect');
    await create({ instanceName: name, number: '5511988887777' });
    const qr = await pombo.api('GET', `/instance/connect/${name}`);
    assert.equal(qr.status, 200);
    assert.match(qr.body.code, /^2@/);
    const log = await logOf(pombo, name);
    assert.deepEqual(log.map((e) => [e.event, e.seq]), [['instance.create', 1], ['qrcode.updated', 2], ['connection.update', 3]]);
    assert.equal(log[1].data.qrcode.code, qr.body.code);
    assert.deepEqual(log[2].data, { instance: name, state: 'open', statusReason: 200, wuid: '5511988887777@s.whatsapp.net', profileName: name });
    assert.equal(log[2].sender, '5511988887777@s.whatsapp.net');
    assert.deepEqual((await pombo.api('GET', `/instance/connectionState/${name}`)).body, { instance: { instanceName: name, state: 'open' } });
    assert.equal((await pombo.api('GET', `/instance/connect/${name}`)).status, 200);
    assert.equal((await logOf(pombo, name)).length, 3);
  });

  test('an ingest instance is not connected by Pombo', async () => {
    const name = uniqueName('ingest');
    await create({ instanceName: name, integration: 'INGEST' });
    assertError(await pombo.api('GET', `/instance/connect/${name}`), 400, 'POMBO_ERR_WRONG_INTEGRATION', /INGEST integration/);
    assert.equal((await logOf(pombo, name)).length, 1);
  });

  test('logout emits STATUS_INSTANCE closed, LOGOUT_INSTANCE and CONNECTION_UPDATE close (as Evolution API), and the instance can no longer send', async () => {
    const name = uniqueName('logout');
    await pombo.sandbox(name);
    const before = Date.now();
    const out = await pombo.api('DELETE', `/instance/logout/${name}`);
    assert.equal(out.status, 200);
    assert.deepEqual(out.body, { status: 'SUCCESS', error: false, response: { message: 'Instance logged out' } });
    const log = await logOf(pombo, name);
    assert.deepEqual(log.slice(-3).map((e) => [e.event, e.seq]), [['status.instance', 4], ['logout.instance', 5], ['connection.update', 6]]);
    const status = log[3].data;
    assert.deepEqual(Object.keys(status), ['instance', 'status', 'disconnectionAt', 'disconnectionReasonCode', 'disconnectionObject'], "Evolution's status.instance data");
    assert.deepEqual([status.instance, status.status, status.disconnectionReasonCode], [name, 'closed', 401]);
    assert.ok(Date.parse(status.disconnectionAt) >= before - 1000, status.disconnectionAt);
    const lastDisconnect = JSON.parse(status.disconnectionObject);
    assert.equal(lastDisconnect.error.output.statusCode, 401, "Baileys' lastDisconnect, as JSON text");
    assert.equal(lastDisconnect.date, status.disconnectionAt);
    assert.deepEqual([log[5].data.state, log[5].data.statusReason], ['close', 401]);
    assert.deepEqual((await pombo.api('GET', `/instance/connectionState/${name}`)).body.instance.state, 'close');
    assertError(await pombo.api('POST', `/message/sendText/${name}`, { number: '5511999990000', text: 'hi' }), 409, 'POMBO_ERR_INSTANCE_NOT_CONNECTED');
  });

  test('delete emits INSTANCE_DELETE and REMOVE_INSTANCE, then the instance, its token and its name are gone', async () => {
    const name = uniqueName('delete');
    const { token, id } = await pombo.sandbox(name);
    const done = await pombo.api('DELETE', `/instance/delete/${name}`);
    assert.deepEqual(done.body, { status: 'SUCCESS', error: false, response: { message: 'Instance deleted' } });
    const log = await pombo.pombo.context.store.read({ instanceId: id, limit: 100 });
    assert.deepEqual(log.map((e) => [e.event, e.seq]).slice(-2), [['INSTANCE_DELETE', 4], ['REMOVE_INSTANCE', 5]]);
    assert.deepEqual(log.at(-2)?.data, { instanceName: name, instanceId: id });
    assertError(await pombo.api('GET', `/events/${name}`), 404, 'POMBO_ERR_INSTANCE_NOT_FOUND');
    assertError(await pombo.api('GET', `/instance/connectionState/${name}`), 404, 'POMBO_ERR_INSTANCE_NOT_FOUND');
    assertError(await pombo.api('GET', '/instance/fetchInstances', undefined, token), 401, 'POMBO_ERR_UNAUTHORIZED');
    assert.ok(!(await names()).includes(name));
    const reborn = await create({ instanceName: name });
    assert.equal(reborn.status, 201, 'the name is free again');
    assert.deepEqual((await logOf(pombo, name)).map((e) => [e.event, e.seq]), [['instance.create', 1]], 'with a log of its own');
  });
});
