import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { storesNothing } from '../helpers/stores-nothing.ts';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { assertError, logOf } from './http-assert.ts';

const BODY_LIMIT = 4096;
let pombo: Harness;
let alice: string;
let bob: string;

before(async () => {
  pombo = await startPombo({ SERVER_BODY_LIMIT_BYTES: String(BODY_LIMIT) });
  alice = uniqueName('bad-a');
  bob = uniqueName('bad-b');
  await pombo.sandbox(alice);
  await pombo.sandbox(bob, { number: '5511966665555' });
});
after(async () => {
  await pombo.close();
});

/** Sends raw bytes with a content type, as a misbehaving client would. */
async function raw(method: string, path: string, body: string, contentType = 'application/json') {
  const response = await fetch(`${pombo.url}${path}`, { method, headers: { apikey: pombo.apiKey, 'content-type': contentType }, body });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) };
}

test('malformed JSON is a 400 naming the problem', async () => {
  await storesNothing(pombo, [alice, bob], async () => {
    for (const [method, path] of [['POST', '/instance/create'], ['POST', `/message/sendText/${alice}`], ['POST', `/events/${alice}`]] as const) {
      assertError(await raw(method, path, '{"instanceName": "x",'), 400, 'POMBO_ERR_INVALID_JSON', /not valid JSON/);
      assertError(await raw(method, path, "{'single': 'quotes'}"), 400, 'POMBO_ERR_INVALID_JSON');
    }
    // An empty body reads as {} (as Evolution API reads it): the answer names the field it lacks.
    assertError(await raw('POST', '/instance/create', ''), 400, 'POMBO_ERR_VALIDATION', /instanceName/);
    // Valid JSON, refused for a key that could change the objects that read it: the answer says so.
    assertError(await raw('POST', `/events/${alice}`, '{"__proto__": {"admin": true}, "event": "CALL", "data": {}}'), 400, 'POMBO_ERR_VALIDATION', /"__proto__" key.*rename the key/);
    assertError(await raw('POST', '/instance/create', '{"instanceName": "x", "constructor": {"prototype": {}}}'), 400, 'POMBO_ERR_VALIDATION', /"constructor" with a "prototype" key/);
    // However deep in the event it sits.
    assertError(await raw('POST', `/events/${alice}`, '{"event": "CALL", "data": {"list": [{"a": {"__proto__": {}}}]}}'), 400, 'POMBO_ERR_VALIDATION', /"__proto__" key/);
  });
});

test('a request with content-type application/json and no body is answered like one without a body (clients that always send the header)', async () => {
  const name = uniqueName('bad-empty');
  await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
  const logout = await raw('DELETE', `/instance/logout/${name}`, '');
  assert.equal(logout.status, 200, JSON.stringify(logout.body));
  const deleted = await raw('DELETE', `/instance/delete/${name}`, '');
  assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
  assert.equal((await pombo.api('GET', `/instance/connectionState/${name}`)).status, 404, 'deleted');
});

test('a "constructor" key that holds no "prototype" is data like any other, and a body may start with a byte order mark', async () => {
  for (const constructor of [null, 'text', { name: 'x' }]) {
    const stored = await raw('POST', `/events/${alice}`, JSON.stringify({ event: 'CALL', data: { constructor, id: 'c' } }));
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
    const read = await pombo.api('GET', `/events/${alice}/${stored.body.id}`);
    assert.deepEqual(read.body.data, { constructor, id: 'c' });
  }
  const marked = await raw('POST', `/events/${alice}`, '\ufeff{"event": "CALL", "data": {"id": "bom"}}');
  assert.equal(marked.status, 201, JSON.stringify(marked.body));
});

test('a body that is not an object, or fields of the wrong type, are 400s naming the field', async () => {
  await storesNothing(pombo, [alice, bob], async () => {
    for (const body of ['null', '[]', '"alice"', '42', 'true']) {
      assertError(await raw('POST', '/instance/create', body), 400, 'POMBO_ERR_VALIDATION', /body must be a JSON object/);
      assertError(await raw('POST', `/message/sendText/${alice}`, body), 400, 'POMBO_ERR_VALIDATION');
    }
    const create = (body: Record<string, unknown>) => pombo.api('POST', '/instance/create', { instanceName: uniqueName('wt'), ...body });
    assertError(await create({ instanceName: 5 }), 400, 'POMBO_ERR_VALIDATION', /instanceName/);
    assertError(await create({ qrcode: 'yes' }), 400, 'POMBO_ERR_VALIDATION', /qrcode must be true or false/);
    assertError(await create({ number: 'abc' }), 400, 'POMBO_ERR_VALIDATION', /number must be 8 to 15 digits/);
    assertError(await create({ integration: 7 }), 400, 'POMBO_ERR_VALIDATION', /integration/);
    assertError(await create({ webhook: 'https://example.com' }), 400, 'POMBO_ERR_VALIDATION', /webhook must be a JSON object/);
    const send = (body: unknown) => pombo.api('POST', `/message/sendText/${alice}`, body);
    assertError(await send({ number: 5511966665555, text: 'hi' }), 400, 'POMBO_ERR_VALIDATION', /number must be a phone number/);
    for (const number of ['abc', '123', '55 11 999', '5511999990000@example.com', '']) {
      assertError(await send({ number, text: 'hi' }), 400, 'POMBO_ERR_VALIDATION', /number must be a phone number with its country code/);
    }
    assertError(await pombo.api('POST', `/group/create/${alice}`, { subject: 'g', participants: ['5511966665555', 'x'] }), 400, 'POMBO_ERR_VALIDATION', /participants\[1\] must be a phone number/);
    assertError(await send({ number: '5511966665555', text: 42 }), 400, 'POMBO_ERR_VALIDATION', /text/);
    assertError(await send({ number: '5511966665555' }), 400, 'POMBO_ERR_VALIDATION', /text is required/);
    assertError(await send({ text: 'hi' }), 400, 'POMBO_ERR_VALIDATION', /number must be a phone number/);
    assertError(
      await pombo.api('POST', `/chat/sendPresence/${alice}`, { number: '5511966665555', presence: 'dancing' }),
      400,
      'POMBO_ERR_VALIDATION',
      /presence must be one of/,
    );
    assertError(await pombo.api('POST', `/group/create/${alice}`, { subject: 'g', participants: '5511966665555' }), 400, 'POMBO_ERR_VALIDATION', /participants/);
    assertError(await pombo.api('POST', `/group/updateParticipant/${alice}`, { action: 'add', participants: ['5511966665555'] }), 400, 'POMBO_ERR_VALIDATION', /groupJid/);
  });
});

test('a body over the limit is a 413 that states the limit', async () => {
  await storesNothing(pombo, [alice, bob], async () => {
    const big = JSON.stringify({ event: 'CALL', data: { blob: 'x'.repeat(BODY_LIMIT) } });
    assertError(await raw('POST', `/events/${alice}`, big), 413, 'POMBO_ERR_BODY_TOO_LARGE', new RegExp(`limit of ${BODY_LIMIT} bytes`));
  });
});

test('a body that is not JSON is a 415', async () => {
  await storesNothing(pombo, [alice, bob], async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      assertError(await raw('POST', `/events/${alice}`, 'event=CALL', type), 415, 'POMBO_ERR_UNSUPPORTED_MEDIA_TYPE', /application\/json/);
    }
  });
});

test('a compressed JSON body (Content-Encoding: gzip) is a 415 naming the encoding, not stored as if it were plain', async () => {
  await storesNothing(pombo, [alice, bob], async () => {
    const body = JSON.stringify({ event: 'CALL', data: { id: 'c1' } });
    for (const encoding of ['gzip', 'br']) {
      const response = await fetch(`${pombo.url}/events/${alice}`, { method: 'POST', headers: { apikey: pombo.apiKey, 'content-type': 'application/json', 'content-encoding': encoding }, body });
      assertError({ status: response.status, body: await response.json() }, 415, 'POMBO_ERR_UNSUPPORTED_ENCODING', new RegExp(`Content-Encoding: ${encoding}`));
    }
  });
  const plain = await fetch(`${pombo.url}/events/${alice}`, { method: 'POST', headers: { apikey: pombo.apiKey, 'content-type': 'application/json', 'content-encoding': 'identity' }, body: '{"event":"CALL","data":{}}' });
  assert.equal(plain.status, 201);
});

test('unknown instances and routes are 404s', async () => {
  const ghost = uniqueName('ghost');
  for (const [method, path, body] of [
    ['GET', `/instance/connect/${ghost}`],
    ['GET', `/instance/connectionState/${ghost}`],
    ['DELETE', `/instance/logout/${ghost}`],
    ['DELETE', `/instance/delete/${ghost}`],
    ['POST', `/message/sendText/${ghost}`, { number: '5511966665555', text: 'x' }],
    ['GET', `/events/${ghost}`],
    ['POST', `/events/${ghost}`, { event: 'CALL', data: {} }],
  ] as const) {
    assertError(await pombo.api(method, path, body), 404, 'POMBO_ERR_INSTANCE_NOT_FOUND', new RegExp(`"${ghost}" instance does not exist`));
  }
  assertError(await pombo.api('GET', `/events/${'x'.repeat(300)}`), 400, 'POMBO_ERR_VALIDATION', /path parameter is longer than 100 characters/);
  assertError(await pombo.api('GET', '/events/%E0%A4%A'), 400, 'POMBO_ERR_VALIDATION', /URL is malformed/);
  assertError(await pombo.api('GET', '/nope'), 404, 'POMBO_ERR_ROUTE_NOT_FOUND', /Route GET \/nope not found/);
  assertError(await pombo.api('POST', '/instance/nope', {}), 404, 'POMBO_ERR_ROUTE_NOT_FOUND');
  assertError(await pombo.api('GET', '/instance/create?x=1'), 404, 'POMBO_ERR_ROUTE_NOT_FOUND', /Route GET \/instance\/create not found/);
  assertError(await pombo.api('PUT', `/events/${alice}`, {}), 404, 'POMBO_ERR_ROUTE_NOT_FOUND');
});

test('ingest refuses unknown events and data that is not an object, naming them', async () => {
  await storesNothing(pombo, [alice, bob], async () => {
    const ingest = (body: unknown) => pombo.api('POST', `/events/${alice}`, body);
    assertError(await ingest({ event: 'MESSAGE_UPSERTED', data: {} }), 400, 'POMBO_ERR_UNKNOWN_EVENT', /Unknown event "MESSAGE_UPSERTED"/);
    assertError(await ingest({ event: 42, data: {} }), 400, 'POMBO_ERR_VALIDATION', /body\.event must be an event name/);
    assertError(await ingest({ data: {} }), 400, 'POMBO_ERR_VALIDATION', /body\.event/);
    for (const data of ['text', 5, true, null]) {
      assertError(await ingest({ event: 'MESSAGES_UPSERT', data }), 400, 'POMBO_ERR_VALIDATION', /body\.data must be a JSON object or array/);
    }
    assertError(await ingest({ event: 'MESSAGES_UPSERT' }), 400, 'POMBO_ERR_VALIDATION', /body\.data/);
    assertError(await ingest({ event: 'CALL', data: {}, id: 7 }), 400, 'POMBO_ERR_VALIDATION', /body\.id must be a non-empty string/);
    const batch = [{ event: 'CALL', data: {} }, { event: 'NOT_AN_EVENT', data: {} }];
    assertError(await ingest(batch), 400, 'POMBO_ERR_UNKNOWN_EVENT', /"NOT_AN_EVENT"/);
    assertError(await ingest([{ event: 'CALL', data: {} }, { event: 'CALL', data: 'x' }]), 400, 'POMBO_ERR_VALIDATION', /events\[1\]\.data/);
  });
});

test('bad paging parameters are 400s, repeated ones included', async () => {
  const page = (query: string) => pombo.api('GET', `/events/${alice}?${query}`);
  for (const limit of ['0', 'abc', '1001', '2.5', '-1']) {
    assertError(await page(`limit=${limit}`), 400, 'POMBO_ERR_VALIDATION', /limit must be an integer between 1 and 1000/);
  }
  assertError(await page('after=evt_01ARZ3NDEKTSV4RRFFQ69G5FAV'), 400, 'POMBO_ERR_VALIDATION', /after="evt_01ARZ3NDEKTSV4RRFFQ69G5FAV" is not an event of/);
  const bobsEvent = (await logOf(pombo, bob))[0].id;
  assertError(await page(`after=${bobsEvent}`), 400, 'POMBO_ERR_VALIDATION', /is not an event of/);
  assertError(await page('events=MESSAGES_UPSERT,NOPE'), 400, 'POMBO_ERR_UNKNOWN_EVENT', /"NOPE"/);
  assertError(await page('limit=5&limit=6'), 400, 'POMBO_ERR_VALIDATION', /query parameter limit is given more than once/);
  const first = (await logOf(pombo, alice))[0].id;
  assertError(await page(`after=${first}&after=${first}`), 400, 'POMBO_ERR_VALIDATION', /after/);
  assertError(await page('events=CALL&events=MESSAGES_UPSERT'), 400, 'POMBO_ERR_VALIDATION', /events/);
});
