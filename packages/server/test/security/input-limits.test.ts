import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { storesNothing } from '../helpers/stores-nothing.ts';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { assertError, logOf } from '../core/http-assert.ts';
import { MAX_BATCH } from '../../src/sources/ingest/ingest-body.ts';
import { EVENT_LIST_MAX } from '../../src/core/validate.ts';

const DATA_LIMIT = 64 * 1024;
let pombo: Harness;
let alice: string;
let aliceToken: string;
let ingest: string;
let ingestToken: string;

before(async () => {
  pombo = await startPombo({ EVENTS_MAX_DATA_BYTES: String(DATA_LIMIT), SANDBOX_MAX_GROUPS: '3', WEBHOOK_HEADERS_MAX: '4', WEBHOOK_HEADERS_MAX_BYTES: '200' });
  alice = uniqueName('lim-a');
  aliceToken = (await pombo.sandbox(alice)).token;
  ingest = uniqueName('lim-i');
  ingestToken = (await pombo.api('POST', '/instance/create', { instanceName: ingest, integration: 'INGEST' })).body.hash;
});
after(() => pombo.close());

const nested = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const numbers = (count: number, from = 5511900000000): string[] => Array.from({ length: count }, (_, n) => String(from + n));

test('a body nested deeper than SERVER_BODY_MAX_DEPTH is a 400 naming the limit, on every route, and nothing is stored', async () => {
  await storesNothing(pombo, [alice, ingest], async () => {
    for (const depth of [65, 4150, 20_000]) {
      const event = `{"event":"CALL","data":${nested(depth)}}`;
      assertError(await pombo.api('POST', `/events/${ingest}`, event, ingestToken), 400, 'POMBO_ERR_VALIDATION', /more than 64 levels deep \(SERVER_BODY_MAX_DEPTH\)/);
      assertError(await pombo.api('POST', `/events/${ingest}`, `{"events":[${event}]}`), 400, 'POMBO_ERR_VALIDATION', /SERVER_BODY_MAX_DEPTH/);
      assertError(await pombo.api('POST', `/webhook/set/${alice}`, `{"webhook":${nested(depth)}}`), 400, 'POMBO_ERR_VALIDATION', /SERVER_BODY_MAX_DEPTH/);
    }
  });
  // Brackets inside strings are text, not nesting.
  const inText = await pombo.api('POST', `/events/${ingest}`, { event: 'CALL', data: { text: '[{\\"'.repeat(500) } }, ingestToken);
  assert.equal(inText.status, 201, JSON.stringify(inText.body));
  // A string that ends in a backslash (escaped, `\\`) ends at its quote: what follows is nesting again.
  const afterBackslash = `{"event":"CALL","data":{"text":"ends in \\\\","deep":${nested(70)}}}`;
  assertError(await pombo.api('POST', `/events/${ingest}`, afterBackslash, ingestToken), 400, 'POMBO_ERR_VALIDATION', /SERVER_BODY_MAX_DEPTH/);
});

test('a caller without a valid key gets 401 (or 404/403) before its body is read: a bad, deep or large body costs the server no parsing', async () => {
  const bodies = ['{"event": not json', `{"event":"CALL","data":${nested(20_000)}}`, `{"event":"MESSAGES_UPSERT","data":[${'{},'.repeat(1_000_000)}{}]}`];
  for (const body of bodies) {
    assert.equal((await pombo.api('POST', `/events/${ingest}`, body, null)).status, 401, 'no key');
    assert.equal((await pombo.api('POST', `/events/${ingest}`, body, 'not-a-key')).status, 401, 'a wrong key');
    assert.equal((await pombo.api('POST', '/instance/create', body, null)).status, 401, 'a global route');
    assert.equal((await pombo.api('POST', `/events/${ingest}`, body, aliceToken)).status, 403, "another instance's token");
    assert.equal((await pombo.api('POST', '/events/no-such-instance', body)).status, 404, 'an unknown instance');
  }
});

test('every event accepted at the deepest allowed nesting reads back from every read route', async () => {
  // The body is {"event":…,"data":…}: data may nest 63 levels below it.
  let data: unknown = 'leaf';
  for (let level = 0; level < 63; level++) data = { level, next: data };
  const accepted = await pombo.api('POST', `/events/${ingest}`, { event: 'CALL', data }, ingestToken);
  assert.equal(accepted.status, 201, JSON.stringify(accepted.body).slice(0, 300));
  const one = await pombo.api('GET', `/events/${ingest}/${accepted.body.id}`, undefined, ingestToken);
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.data, data);
  const page = await pombo.api('GET', `/events/${ingest}?limit=1000`, undefined, ingestToken);
  assert.equal(page.status, 200);
  assert.deepEqual(page.body.events.at(-1).data, data);
  const filtered = await pombo.api('GET', `/events/${ingest}?events=CALL`, undefined, ingestToken);
  assert.equal(filtered.status, 200);
  assert.ok(filtered.body.events.some((event: { id: string }) => event.id === accepted.body.id));
  // The views built from the log (messages, chats, groups) read deep events too.
  let inner: unknown = 'leaf';
  for (let level = 0; level < 55; level++) inner = { level, next: inner };
  const deepMessage = { key: { remoteJid: '5511900000001@s.whatsapp.net', fromMe: false, id: 'DEEP' }, message: inner };
  const deepGroup = [{ id: '120363000000000001@g.us', subject: 'deep', participants: [{ id: '5511900000001@s.whatsapp.net', extra: inner }] }];
  const more = await pombo.api('POST', `/events/${ingest}`, { events: [{ event: 'MESSAGES_UPSERT', data: deepMessage }, { event: 'GROUPS_UPSERT', data: deepGroup }] }, ingestToken);
  assert.equal(more.status, 201, JSON.stringify(more.body).slice(0, 300));
  for (const [method, path, body] of [
    ['POST', `/chat/findMessages/${ingest}`, {}],
    ['POST', `/chat/findChats/${ingest}`, {}],
    ['GET', `/group/fetchAllGroups/${ingest}?getParticipants=true`, undefined],
    ['GET', `/events/${ingest}?limit=1000`, undefined],
  ] as const) {
    const read = await pombo.api(method, path, body, ingestToken);
    assert.equal(read.status, 200, `${method} ${path}: ${JSON.stringify(read.body).slice(0, 300)}`);
  }
});

test('an event whose data is past EVENTS_MAX_DATA_BYTES is a 400 naming the event and the limit; one just under is stored', async () => {
  await storesNothing(pombo, [alice, ingest], async () => {
    const big = { event: 'CALL', data: { blob: 'x'.repeat(DATA_LIMIT) } };
    assertError(await pombo.api('POST', `/events/${ingest}`, big, ingestToken), 400, 'POMBO_ERR_VALIDATION', /body\.data is \d+ bytes of JSON; an event's data holds at most 65536 \(EVENTS_MAX_DATA_BYTES\)/);
    const batch = { events: [{ event: 'CALL', data: {} }, big] };
    assertError(await pombo.api('POST', `/events/${ingest}`, batch, ingestToken), 400, 'POMBO_ERR_VALIDATION', /events\[1\]\.data .*EVENTS_MAX_DATA_BYTES/);
  });
  const fits = await pombo.api('POST', `/events/${ingest}`, { event: 'CALL', data: { blob: 'x'.repeat(DATA_LIMIT - 20) } }, ingestToken);
  assert.equal(fits.status, 201);
});

test('every list a request carries is bounded: past the limit a 400 naming it, nothing stored', async () => {
  await storesNothing(pombo, [alice, ingest], async () => {
    const batch = { events: Array.from({ length: MAX_BATCH + 1 }, () => ({ event: 'CALL', data: {} })) };
    assertError(await pombo.api('POST', `/events/${ingest}`, batch, ingestToken), 400, 'POMBO_ERR_VALIDATION', /a batch holds at most 1000 events; got 1001/);
    assertError(
      await pombo.api('POST', `/group/create/${alice}`, { subject: 'big', participants: numbers(100_000) }, aliceToken),
      400,
      'POMBO_ERR_VALIDATION',
      /participants holds 100000 numbers; a group has at most 1024 participants \(SANDBOX_GROUP_MAX_PARTICIPANTS\)/,
    );
    assertError(
      await pombo.api('POST', `/group/create/${alice}`, { subject: 'big', participants: numbers(1024) }, aliceToken),
      400,
      'POMBO_ERR_VALIDATION',
      /at most 1024 participants, its creator included \(SANDBOX_GROUP_MAX_PARTICIPANTS\); this one would have 1025/,
    );
    const events = Array.from({ length: EVENT_LIST_MAX + 1 }, () => 'MESSAGES_UPSERT');
    assertError(await pombo.api('POST', `/webhook/set/${alice}`, { webhook: { url: 'https://example.com/h', events } }), 400, 'POMBO_ERR_VALIDATION', /webhook\.events holds 257 names; at most 256/);
    assertError(await pombo.api('POST', `/rabbitmq/set/${alice}`, { rabbitmq: { enabled: true, events } }), 400, 'POMBO_ERR_VALIDATION', /at most 256/);
    assertError(await pombo.api('GET', `/events/${ingest}?events=${events.join(',')}`), 400, 'POMBO_ERR_VALIDATION', /events holds 257 names/);
    // Headers Pombo sets itself, and Expect, which would make every delivery fail.
    for (const name of ['Host', 'Content-Length', 'Webhook-Signature']) {
      assertError(await pombo.api('POST', `/webhook/set/${alice}`, { webhook: { url: 'https://example.com/h', headers: { [name]: 'x' } } }), 400, 'POMBO_ERR_VALIDATION', /Pombo sets this header itself/);
    }
    assertError(await pombo.api('POST', `/webhook/set/${alice}`, { webhook: { url: 'https://example.com/h', headers: { Expect: '100-continue' } } }), 400, 'POMBO_ERR_VALIDATION', /without Expect/);
    const headers = Object.fromEntries(Array.from({ length: 5 }, (_, n) => [`X-H${n}`, 'v']));
    assertError(await pombo.api('POST', `/webhook/set/${alice}`, { webhook: { url: 'https://example.com/h', headers } }), 400, 'POMBO_ERR_VALIDATION', /5 headers; at most 4 are allowed \(WEBHOOK_HEADERS_MAX\)/);
    assertError(
      await pombo.api('POST', `/webhook/set/${alice}`, { webhook: { url: 'https://example.com/h', headers: { 'X-Big': 'v'.repeat(8 * 1024 * 1024) } } }),
      400,
      'POMBO_ERR_VALIDATION',
      /more than 200 bytes of names and values \(WEBHOOK_HEADERS_MAX_BYTES\)/,
    );
    assertError(await pombo.api('POST', `/message/sendText/${alice}`, { number: '5511900000000', text: 'x'.repeat(65_537) }, aliceToken), 400, 'POMBO_ERR_VALIDATION', /text has 65537 characters; at most 65536/);
    // An unknown name is not echoed back whole.
    const unknown = await pombo.api('POST', `/webhook/set/${alice}`, { webhook: { url: 'https://example.com/h', events: ['Y'.repeat(100_000)] } });
    assertError(unknown, 400, 'POMBO_ERR_UNKNOWN_EVENT');
    assert.ok(JSON.stringify(unknown.body).length < 1000);
  });
});

test('a group of the largest allowed size with sandbox members answers fast, and each member hears of it', async () => {
  const members = [uniqueName('lim-m'), uniqueName('lim-m')];
  for (const [index, name] of members.entries()) await pombo.sandbox(name, { number: String(5512800000000 + index) });
  const participants = [...numbers(1021, 5512700000000), '5512800000000', '5512800000001'];
  const started = performance.now();
  const created = await pombo.api('POST', `/group/create/${alice}`, { subject: 'large', participants }, aliceToken);
  const elapsed = performance.now() - started;
  assert.equal(created.status, 201, JSON.stringify(created.body).slice(0, 300));
  assert.equal(created.body.size, 1024);
  assert.ok(elapsed < 2000, `a group of 1024 took ${Math.round(elapsed)} ms`);
  for (const name of members) {
    const log = await logOf(pombo, name);
    assert.ok(log.some((event) => event.event === 'groups.upsert' && event.data[0].id === created.body.id), name);
  }
  // Adding past the limit to an existing group is refused too.
  assertError(
    await pombo.api('POST', `/group/updateParticipant/${alice}?groupJid=${created.body.id}`, { action: 'add', participants: ['5512600000000'] }, aliceToken),
    400,
    'POMBO_ERR_VALIDATION',
    /SANDBOX_GROUP_MAX_PARTICIPANTS/,
  );
});

test('a page of GET /events ends at 16 MiB of event data, and next points on: large events stay readable', async (t) => {
  const big = await startPombo();
  t.after(() => big.close());
  const name = uniqueName('pages');
  const token = (await big.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).body.hash;
  const blob = 'x'.repeat(4 * 1024 * 1024 - 100);
  for (let n = 0; n < 5; n++) assert.equal((await big.api('POST', `/events/${name}`, { event: 'CALL', data: { n, blob } }, token)).status, 201);
  const first = await big.api('GET', `/events/${name}?limit=1000&events=CALL`, undefined, token);
  assert.equal(first.status, 200);
  assert.deepEqual(first.body.events.map((event: { data: { n: number } }) => event.data.n), [0, 1, 2, 3]);
  assert.equal(first.body.next, first.body.events.at(-1).id);
  const second = await big.api('GET', `/events/${name}?limit=1000&events=CALL&after=${first.body.next}`, undefined, token);
  assert.deepEqual(second.body.events.map((event: { data: { n: number } }) => event.data.n), [4]);
  assert.equal(second.body.next, null);
});
