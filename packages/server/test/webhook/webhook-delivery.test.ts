import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { receiverFor, startReceiver, type Receiver } from './http-receiver.ts';
import { emit, FAST_RETRIES, instanceWithWebhook, message, settled } from './webhook-fixtures.ts';

const SECRET = `whsec_${Buffer.from('a 32 byte secret for the signing!').toString('base64')}`;

const GLOBAL_SECRET = `whsec_${Buffer.alloc(24, 42).toString('base64')}`;

let pombo: Harness;
let global: Receiver;

before(async () => {
  global = await startReceiver();
  pombo = await startPombo({
    ...FAST_RETRIES,
    WEBHOOK_GLOBAL_ENABLED: 'true',
    WEBHOOK_GLOBAL_URL: `${global.url}/global`,
    WEBHOOK_GLOBAL_SECRET: GLOBAL_SECRET,
    WEBHOOK_EVENTS_MESSAGES_UPSERT: 'true',
    WEBHOOK_EVENTS_SEND_MESSAGE: 'true',
  });
});

after(async () => {
  await pombo.close();
  await global.close();
});

test('the payload is the seed envelope plus the event id, posted as JSON to the configured URL', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { enabled: true, url: `${receiver.url}/hook`, events: [] });
  const [id] = await emit(pombo, instance, [message('5511999999999@s.whatsapp.net', 'hello')]);
  const request = await eventually(() => receiver.requests[0], 'the webhook request');
  assert.equal(request.method, 'POST');
  assert.equal(request.url, '/hook');
  assert.match(String(request.headers['content-type']), /^application\/json/);
  const body = request.json;
  assert.deepEqual(Object.keys(body).sort(), ['apikey', 'data', 'date_time', 'destination', 'event', 'id', 'instance', 'sender', 'server_url']);
  assert.equal(body.id, id);
  assert.equal(body.event, 'messages.upsert');
  assert.equal(body.instance, instance.name);
  assert.equal(body.destination, `${receiver.url}/hook`);
  assert.equal(body.apikey, null, 'the instance token is not exposed unless AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES=true');
  assert.equal(new Date(body.date_time).toISOString(), body.date_time, 'date_time is ISO 8601 UTC');
  assert.ok(Math.abs(Date.parse(body.date_time) - Date.now()) < 60_000, 'date_time is the true UTC time');
  assert.deepEqual(body.data.key, { remoteJid: '5511999999999@s.whatsapp.net', fromMe: false, id: 'MSG-hello' });
  assert.equal(request.headers['webhook-signature'], undefined, 'unsigned without a secret');
  assert.equal(request.headers['x-instance-id'], instance.id, 'Evolution API 2.3.7 headers');
  assert.equal(request.headers['x-instance-name'], instance.name);
  assert.equal(request.headers['x-event-type'], 'messages.upsert');
  const timestamp = Number(request.headers['x-timestamp']);
  assert.ok(Number.isInteger(timestamp) && Math.abs(timestamp - request.at) < 60_000, `x-timestamp is the send time in ms: ${request.headers['x-timestamp']}`);
});

test('only the events of the filter are sent, in UPPER_SNAKE or dotted form', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, events: ['MESSAGES_UPSERT', 'connection.update'] });
  await emit(pombo, instance, [
    { event: 'SEND_MESSAGE', data: { key: { remoteJid: 'x@s.whatsapp.net', fromMe: true, id: '1' } } },
    message('x@s.whatsapp.net', 'in'),
    { event: 'MESSAGES_UPDATE', data: { keyId: '1', status: 'READ' } },
    { event: 'CONNECTION_UPDATE', data: { instance: instance.name, state: 'open' } },
  ]);
  await eventually(() => receiver.requests.length >= 2, 'the two matching events');
  await settled(pombo, instance);
  assert.deepEqual(receiver.requests.map((request) => request.json.event).sort(), ['connection.update', 'messages.upsert']);
});

test('byEvents appends the kebab event name to the path and keeps the query string', async (t) => {
  const receiver = await receiverFor(t);
  const withQuery = await instanceWithWebhook(pombo, { url: `${receiver.url}/hooks/in?token=abc&x=1`, byEvents: true });
  const trailingSlash = await instanceWithWebhook(pombo, { url: `${receiver.url}/hooks/`, byEvents: true });
  await emit(pombo, withQuery, [message('a@s.whatsapp.net', 'q'), { event: 'GROUP_PARTICIPANTS_UPDATE', data: { id: 'g@g.us', action: 'add', participants: [] } }]);
  await emit(pombo, trailingSlash, [{ event: 'CONNECTION_UPDATE', data: { state: 'open' } }]);
  await eventually(() => receiver.requests.length >= 3, 'three requests');
  const urls = receiver.requests.map((request) => request.url).sort();
  assert.deepEqual(urls, [
    '/hooks/connection-update',
    '/hooks/in/group-participants-update?token=abc&x=1',
    '/hooks/in/messages-upsert?token=abc&x=1',
  ]);
  const upsert = receiver.requests.find((request) => request.url.includes('messages-upsert'));
  assert.equal(upsert?.json.destination, `${receiver.url}/hooks/in?token=abc&x=1`, 'destination is the configured URL');
});

test('configured headers are sent as they are', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, {
    url: receiver.url,
    headers: { 'X-Tenant': 'acme', Authorization: 'Bearer s3cr3t-token-1234', 'x-count': 3 },
  });
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'h')]);
  const request = await eventually(() => receiver.requests[0], 'the request');
  assert.equal(request.headers['x-tenant'], 'acme');
  assert.equal(request.headers.authorization, 'Bearer s3cr3t-token-1234');
  assert.equal(request.headers['x-count'], '3');
});

test('with a secret, the Standard Webhooks headers verify with the standardwebhooks package', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, secret: SECRET });
  const [id] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'signed')]);
  const request = await eventually(() => receiver.requests[0], 'the signed request');
  const headers = request.headers as Record<string, string>;
  assert.equal(headers['webhook-id'], id, 'webhook-id is the event id, stable across retries');
  assert.match(headers['webhook-signature'] ?? '', /^v1,[A-Za-z0-9+/]+=*$/);
  const verified = new Webhook(SECRET).verify(request.body, headers) as { id: string };
  assert.equal(verified.id, id);
  assert.throws(() => new Webhook(SECRET).verify(request.body.replace('signed', 'forged'), headers), /signature/i);
  const other = `whsec_${Buffer.from('another secret of 32 bytes long!').toString('base64')}`;
  assert.throws(() => new Webhook(other).verify(request.body, headers), /signature/i);
});

test("Evolution API's jwt_key header becomes an HS256 bearer token", async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, headers: { jwt_key: 'evolution-jwt-key' } });
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'jwt')]);
  const request = await eventually(() => receiver.requests[0], 'the request');
  assert.equal(request.headers.jwt_key, undefined, 'the key itself is never sent');
  const [, token = ''] = /^Bearer (.+)$/.exec(String(request.headers.authorization)) ?? [];
  const [header = '', payload = '', signature] = token.split('.');
  assert.equal(createHmac('sha256', 'evolution-jwt-key').update(`${header}.${payload}`).digest('base64url'), signature);
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  assert.equal(claims.app, 'evolution');
  assert.equal(claims.exp - claims.iat, 600);
});

test('base64 media reaches only the webhooks that asked for it', async (t) => {
  const withBase64 = await receiverFor(t);
  const without = await receiverFor(t);
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  await pombo.sandbox(alice, { webhook: { url: withBase64.url, base64: true, events: ['SEND_MESSAGE'] } });
  await pombo.sandbox(bob, { webhook: { url: without.url, base64: false, events: ['MESSAGES_UPSERT'] } });
  const bobJid = (await pombo.api('GET', `/instance/fetchInstances?instanceName=${bob}`)).body[0].ownerJid as string;
  const bytes = Buffer.from('\x89PNG pretend image bytes');
  const sent = await pombo.api('POST', `/message/sendMedia/${alice}`, {
    number: bobJid.split('@')[0],
    mediatype: 'image',
    mimetype: 'image/png',
    caption: 'a picture',
    media: bytes.toString('base64'),
    fileName: 'pic.png',
  });
  assert.equal(sent.status, 201, JSON.stringify(sent.body));
  assert.equal(sent.body.message.base64, undefined, 'the API answer carries a reference, not the bytes');

  const mine = await eventually(() => withBase64.requests[0], "alice's SEND_MESSAGE");
  assert.equal(mine.json.event, 'send.message');
  assert.equal(mine.json.data.message.base64, bytes.toString('base64'));
  assert.equal(mine.json.data.message.imageMessage.mimetype, 'image/png');
  assert.equal(mine.json.data.message.imageMessage.caption, 'a picture');

  const theirs = await eventually(() => without.requests[0], "bob's MESSAGES_UPSERT");
  assert.equal(theirs.json.data.message.imageMessage.fileLength, bytes.length);
  assert.equal(theirs.json.data.message.base64, undefined, 'a webhook without base64 gets the reference only');

  const globals = await eventually(
    () => {
      const mediaEvents = global.requests.filter((request) => request.json?.data?.message?.imageMessage?.caption === 'a picture');
      return mediaEvents.length >= 2 ? mediaEvents : undefined;
    },
    'both media events on the global webhook',
  );
  for (const request of globals) assert.equal(request.json.data.message.base64, undefined, 'the global webhook (no base64) never gets the bytes');
  const stored = await pombo.api('GET', `/events/${alice}?events=SEND_MESSAGE`);
  assert.equal(stored.body.events[0].data.message.base64, undefined, 'the stored event is unchanged');
});

test('the global webhook receives every instance, filtered by WEBHOOK_EVENTS_*, signed, independently of instance webhooks', async (t) => {
  const receiver = await receiverFor(t, () => ({ status: 500 }));
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  const [upsert] = await emit(pombo, instance, [message('g@s.whatsapp.net', 'global'), { event: 'CONNECTION_UPDATE', data: { state: 'open' } }]);
  const request = await eventually(() => global.requests.find((r) => r.json?.id === upsert), 'the event on the global webhook');
  assert.equal(request.url, '/global');
  assert.equal(request.json.destination, `${global.url}/global`);
  assert.equal((new Webhook(GLOBAL_SECRET).verify(request.body, request.headers as Record<string, string>) as { id: string }).id, upsert, 'signed with WEBHOOK_GLOBAL_SECRET');
  await eventually(() => receiver.requests.length >= 2, 'the failing instance webhook being tried');
  assert.ok(!global.requests.some((r) => r.json?.instance === instance.name && r.json.event === 'connection.update'), 'CONNECTION_UPDATE is not toggled on');
  await pombo.api('POST', `/webhook/set/${instance.name}`, { webhook: { enabled: false } });
});
