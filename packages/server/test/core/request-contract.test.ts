import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { startReceiver } from '../webhook/http-receiver.ts';
import { assertError, logOf } from './http-assert.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo();
});
after(async () => {
  await pombo.close();
});

async function ingestInstance(extra: Record<string, unknown> = {}): Promise<string> {
  const name = uniqueName('contract');
  const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', ...extra });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return name;
}

/** Sends raw bytes on a new connection and returns what the server answered before closing it. */
function rawExchange(bytes: string, url = pombo.url): Promise<{ status: number; headers: string; body: any }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), headers: head, body: body ? JSON.parse(body) : undefined });
    });
  });
}

test('a misspelled or unknown field is refused with a 400 naming it, on every kind of request, and nothing is stored', async () => {
  const name = await ingestInstance();
  const webhook = await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: 'https://example.com/hook', secrett: 'whsec_x' } });
  assertError(webhook, 400, 'POMBO_ERR_VALIDATION', /unknown field "secrett" in webhook: it accepts enabled, url, events/);
  assert.equal((await pombo.api('GET', `/webhook/find/${name}`)).body, null, 'the webhook was not set');

  const cases: Array<[string, string, unknown, RegExp]> = [
    ['POST', '/instance/create', { instanceName: uniqueName('x'), instanceNmae: 'typo' }, /unknown field "instanceNmae" in the body/],
    ['POST', `/message/sendText/${name}`, { number: '5511999990000', text: 'hi', txt: 'hi' }, /unknown field "txt" in the body: it accepts number, text/],
    ['POST', `/events/${name}`, { event: 'CALL', data: {}, evnt: 'CALL' }, /unknown field "evnt" in the body/],
    ['POST', `/events/${name}`, [{ event: 'CALL', data: {} }, { event: 'CALL', data: {}, extra: 1 }], /unknown field "extra" in body\[1\]/],
    ['POST', `/nats/set/${name}`, { nats: { enabled: true, events: [] }, enabled: true }, /unknown field "enabled" in the body: it accepts nats/],
    ['POST', `/rabbitmq/set/${name}`, { rabbitmq: { enabled: true, events: [], exchange: 'x', queue: 'y' } }, /unknown fields "exchange", "queue" in rabbitmq/],
    ['POST', `/events/${name}`, [{ event: 'CALL', data: {}, a: 1 }, { event: 'CALL', data: {}, b: 2 }], /unknown fields "a" in body\[0\], "b" in body\[1\]/],
    ['POST', `/events/${name}`, Array.from({ length: 30 }, (_, i) => ({ event: 'CALL', data: {}, [`f${i}`]: 1 })), /"f9" in body\[9\], and 20 more/],
    ['GET', `/events/${name}?limt=5`, undefined, /unknown field "limt" in the query string: it accepts after, limit, events/],
  ];
  for (const [method, path, body, message] of cases) {
    assertError(await pombo.api(method, path, body), 400, 'POMBO_ERR_VALIDATION', message);
  }
  assert.equal((await logOf(pombo, name)).length, 1, 'only INSTANCE_CREATE is in the log');
});

test("Evolution's webhookByEvents and webhookBase64 are applied like byEvents and base64; both spellings must agree", async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const name = await ingestInstance();
  const set = await pombo.api('POST', `/webhook/set/${name}`, {
    webhook: { enabled: true, url: `${receiver.url}/hook`, webhookByEvents: true, webhookBase64: true, events: ['MESSAGES_UPSERT'] },
  });
  assert.equal(set.status, 201, JSON.stringify(set.body));
  const found = (await pombo.api('GET', `/webhook/find/${name}`)).body;
  assert.deepEqual([found.byEvents, found.webhookByEvents, found.base64, found.webhookBase64], [true, true, true, true]);
  const sent = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { key: { id: 'M1' } } });
  await eventually(() => receiver.accepted().length === 1, 'the event is delivered');
  assert.equal(receiver.requests[0]?.url, '/hook/messages-upsert', 'byEvents appends the kebab event name');
  assert.equal(receiver.requests[0]?.json.id, sent.body.id);

  const created = await pombo.api('POST', '/instance/create', {
    instanceName: uniqueName('contract'),
    integration: 'INGEST',
    webhook: { url: `${receiver.url}/other`, webhookByEvents: true },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.webhook.byEvents, true, '/instance/create reads the nested form the same way');

  const disagree = await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: receiver.url, byEvents: true, webhookByEvents: false } });
  assertError(disagree, 400, 'POMBO_ERR_VALIDATION', /webhook\.byEvents and webhook\.webhookByEvents are the same setting and disagree/);
});

test("Evolution's GROUP_UPDATE and MESSAGING_HISTORY_SET select their events in every events list; STATUS_INSTANCE is its own", async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const name = await ingestInstance();
  const aliases = ['GROUP_UPDATE', 'STATUS_INSTANCE', 'MESSAGING_HISTORY_SET'];
  const set = await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: receiver.url, events: aliases } });
  assert.equal(set.status, 201, JSON.stringify(set.body));
  assert.deepEqual(set.body.events, ['GROUPS_UPDATE', 'STATUS_INSTANCE', 'MESSAGES_SET']);
  for (const channel of ['websocket', 'rabbitmq', 'nats', 'sqs', 'kafka']) {
    const response = await pombo.api('POST', `/${channel}/set/${name}`, { [channel]: { enabled: true, events: aliases } });
    assert.equal(response.status, 201, `${channel}: ${JSON.stringify(response.body)}`);
    assert.deepEqual(response.body.events, ['GROUPS_UPDATE', 'STATUS_INSTANCE', 'MESSAGES_SET'], channel);
  }

  const groups = await pombo.api('POST', `/events/${name}`, { event: 'GROUP_UPDATE', data: [{ id: '1@g.us', subject: 'x' }] });
  assert.equal(groups.status, 201, 'GROUP_UPDATE is the same event as GROUPS_UPDATE, so it may be ingested');
  assert.equal(groups.body.event, 'GROUPS_UPDATE');
  await pombo.api('POST', `/events/${name}`, { event: 'CALL', data: {} });
  await eventually(() => receiver.accepted().length === 1, 'the groups update is delivered');
  assert.equal(receiver.requests[0]?.json.event, 'groups.update');
  const page = await pombo.api('GET', `/events/${name}?events=GROUP_UPDATE`);
  assert.deepEqual(page.body.events.map((event: { id: string }) => event.id), [groups.body.id]);

  assertError(await pombo.api('POST', `/events/${name}`, { event: 'MESSAGING_HISTORY_SET', data: {} }), 400, 'POMBO_ERR_UNKNOWN_EVENT', /MESSAGING_HISTORY_SET/);
});

/** What Evolution API's webhook posts when a session is logged out (its status.instance, beside connection.update). */
const evolutionPayload = (instance: string, event: string, data: unknown, sender: string) => ({
  event,
  instance,
  data,
  destination: 'https://pombo.example/events',
  date_time: '2025-10-21T12:00:00.000Z',
  sender,
  server_url: 'https://evolution.example',
  apikey: null,
});
const statusClosed = (instance: string) => ({
  instance,
  status: 'closed',
  disconnectionAt: '2025-10-21T12:00:00.000Z',
  disconnectionReasonCode: 401,
  disconnectionObject: '{"error":{"data":null,"isBoom":true,"isServer":false,"output":{"statusCode":401}},"date":"2025-10-21T12:00:00.000Z"}',
});

test("an Evolution status.instance webhook is ingested in each of its forms, stored and delivered as status.instance; STATUS_INSTANCE selects it and not connection.update", async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const name = await ingestInstance();
  const set = await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: receiver.url, events: ['STATUS_INSTANCE'] } });
  assert.deepEqual(set.body.events, ['STATUS_INSTANCE']);

  const sender = `55119${randomInt(10_000_000, 100_000_000)}@s.whatsapp.net`;
  const ingested = await pombo.api('POST', `/events/${name}`, [
    evolutionPayload(name, 'status.instance', statusClosed(name), sender),
    evolutionPayload(name, 'connection.update', { instance: name, state: 'close', statusReason: 401 }, sender),
  ]);
  assert.equal(ingested.status, 201, JSON.stringify(ingested.body));
  assert.deepEqual(ingested.body.events.map((event: { event: string }) => event.event), ['STATUS_INSTANCE', 'CONNECTION_UPDATE']);
  for (const event of ['STATUS_INSTANCE', 'status-instance']) {
    const one = await pombo.api('POST', `/events/${name}`, { event, data: statusClosed(name), id: `status-${event}` });
    assert.equal(one.status, 201, `${event}: ${JSON.stringify(one.body)}`);
  }
  await pombo.api('POST', `/events/${name}`, { event: 'CONNECTION_UPDATE', data: { instance: name, state: 'open', statusReason: 200 } });

  const log = await logOf(pombo, name);
  assert.deepEqual(log.slice(1).map((event) => event.event), ['status.instance', 'connection.update', 'status.instance', 'status.instance', 'connection.update']);
  assert.deepEqual(log[1].data, statusClosed(name), 'the data as Evolution sent it');
  const page = await pombo.api('GET', `/events/${name}?events=STATUS_INSTANCE`);
  assert.deepEqual(page.body.events.map((event: { event: string }) => event.event), ['status.instance', 'status.instance', 'status.instance']);

  await eventually(() => receiver.accepted().length === 3, 'the three status.instance events are delivered');
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(receiver.accepted().map((request) => request.json.event), ['status.instance', 'status.instance', 'status.instance'], 'and no connection.update');
  assert.deepEqual(receiver.accepted()[0]?.json.data, statusClosed(name));
});

test('an error quotes at most 64 characters of what the client sent', async () => {
  const name = await ingestInstance();
  const long = 'y'.repeat(5000);
  const responses = [
    await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: 'https://example.com', [long]: 1 } }),
    await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: long } }),
    await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: 'https://example.com', events: [long] } }),
    await pombo.api('POST', `/events/${name}`, { event: long, data: {} }),
    await pombo.api('GET', `/nope/${long.slice(0, 90)}/${long}`),
  ];
  for (const response of responses) {
    assert.ok(response.status === 400 || response.status === 404, JSON.stringify(response.body).slice(0, 200));
    const text = response.body.response.message.join(' ');
    assert.ok(!text.includes('y'.repeat(65)), `no more than 64 characters of input: ${text.slice(0, 300)}`);
    assert.match(text, /y…/, 'the quote is cut, and says so');
  }
});

test("requests Node's HTTP parser refuses are answered in the documented error shape", async () => {
  const malformed = await rawExchange('GARBAGE\r\n\r\n');
  assert.equal(malformed.status, 400);
  assert.match(malformed.headers, /content-type: application\/json/i);
  assertError(malformed, 400, 'POMBO_ERR_BAD_REQUEST', /The request is not valid HTTP/);

  const huge = await rawExchange(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assertError(huge, 431, 'POMBO_ERR_HEADERS_TOO_LARGE', /headers are too large: send at most \d+ bytes/);

  assert.equal((await pombo.api('GET', '/health', undefined, null)).status, 200, 'the server still answers');

  const impatient = await startPombo({ SERVER_HEADERS_TIMEOUT_MS: '300' });
  try {
    const stalled = await rawExchange('GET /health HTTP/1.1\r\nHost: x\r\n', impatient.url);
    assertError(stalled, 408, 'POMBO_ERR_REQUEST_TIMEOUT', /did not arrive in time/);
  } finally {
    await impatient.close();
  }
});

test('the key is checked before the body: without a valid one, a bad body is still a 401 (or 403 for another instance)', async () => {
  const name = await ingestInstance();
  const other = await pombo.api('POST', '/instance/create', { instanceName: uniqueName('contract'), integration: 'INGEST' });
  const bad = { webhook: { url: 'not a url', secrett: 1 } };
  assertError(await pombo.api('POST', `/webhook/set/${name}`, bad, null), 401, 'POMBO_ERR_UNAUTHORIZED');
  assertError(await pombo.api('POST', `/webhook/set/${name}`, bad, 'wrong-key'), 401, 'POMBO_ERR_UNAUTHORIZED');
  assertError(await pombo.api('POST', `/webhook/set/${name}`, bad, other.body.hash), 403, 'POMBO_ERR_FORBIDDEN');
  assertError(await pombo.api('POST', '/instance/create', { instanceNmae: 'x' }, other.body.hash), 403, 'POMBO_ERR_FORBIDDEN');
  assertError(await pombo.api('POST', `/webhook/set/${name}`, bad), 400, 'POMBO_ERR_VALIDATION');
});

/** Posts to the ingest API with an Idempotency-Key header. */
async function keyed(name: string, body: unknown, key: string) {
  const response = await fetch(`${pombo.url}/events/${name}`, {
    method: 'POST',
    headers: { apikey: pombo.apiKey, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

test('a batch event and a single event never share an idempotency key; retries of each are still deduplicated', async () => {
  const name = await ingestInstance();
  const batch = [{ event: 'CALL', data: { n: 0 } }, { event: 'CALL', data: { n: 1 } }];
  const first = await keyed(name, batch, 'k');
  assert.deepEqual([first.status, first.body.appended], [201, 2]);
  // Before, the batch's first event was stored under "k#0": a single event sent with that key was taken for it.
  const single = await keyed(name, { event: 'CALL', data: { n: 'single' } }, 'k#0');
  assert.deepEqual([single.status, single.body.duplicate], [201, false], 'the single event is appended');
  // The key itself is the batch's: a request of one event under it is another request.
  assertError(await keyed(name, { event: 'CALL', data: { n: 'single k' } }, 'k'), 422, 'POMBO_ERR_IDEMPOTENCY_KEY_REUSED', /the event differs in its data/);
  const withId = await pombo.api('POST', `/events/${name}`, { event: 'CALL', data: { n: 'id' }, id: 'k#0' });
  assert.deepEqual([withId.status, withId.body.duplicate], [201, false], "an event's own id is its own namespace too");

  const batchAgain = await keyed(name, batch, 'k');
  assert.deepEqual([batchAgain.status, batchAgain.body.appended, batchAgain.body.duplicates], [200, 0, 2]);
  assert.deepEqual(batchAgain.body.events.map((event: { id: string }) => event.id), first.body.events.map((event: { id: string }) => event.id));
  const singleAgain = await keyed(name, { event: 'CALL', data: { n: 'single' } }, 'k#0');
  assert.deepEqual([singleAgain.status, singleAgain.body.duplicate, singleAgain.body.id], [200, true, single.body.id]);
  const idAgain = await pombo.api('POST', `/events/${name}`, { event: 'CALL', data: { n: 'id' }, id: 'k#0' });
  assert.deepEqual([idAgain.status, idAgain.body.id], [200, withId.body.id]);
  assert.equal((await logOf(pombo, name)).length, 1 + 2 + 2);

  assertError(await keyed(name, { event: 'CALL', data: {} }, 'x'.repeat(201)), 400, 'POMBO_ERR_VALIDATION', /Idempotency-Key header must be 1 to 200 characters/);
});

test('an Idempotency-Key reused for a different request is a 422 naming what differs, and nothing is appended; the same request again is still a duplicate', async () => {
  const name = await ingestInstance();
  const first = await keyed(name, { event: 'CALL', data: { n: 1 } }, 'order-7');
  assert.equal(first.status, 201);
  assertError(await keyed(name, { event: 'CALL', data: { n: 2 } }, 'order-7'), 422, 'POMBO_ERR_IDEMPOTENCY_KEY_REUSED', /"order-7" was used before for a different request: the event differs in its data/);
  const again = await keyed(name, { event: 'CALL', data: { n: 1 } }, 'order-7');
  assert.deepEqual([again.status, again.body.duplicate, again.body.id], [200, true, first.body.id]);

  const batch = [{ event: 'CALL', data: { n: 'a' } }, { event: 'CALL', data: { n: 'b' } }];
  assert.equal((await keyed(name, batch, 'batch-7')).status, 201);
  const renamed = [batch[0], { event: 'MESSAGES_UPDATE', data: { n: 'b' } }, { event: 'CALL', data: { n: 'c' } }];
  assertError(await keyed(name, renamed, 'batch-7'), 422, 'POMBO_ERR_IDEMPOTENCY_KEY_REUSED', /events\[1\] differs in its name \(CALL then, MESSAGES_UPDATE now\)/);
  assert.equal((await logOf(pombo, name)).length, 1 + 1 + 2, 'neither refused request appended anything');

  // The same events plus one are another request too: the extra one would be appended under the old key.
  const longer = [...batch, { event: 'CALL', data: { n: 'c' } }];
  assertError(await keyed(name, longer, 'batch-7'), 422, 'POMBO_ERR_IDEMPOTENCY_KEY_REUSED', /events\[2\] was not in the request first sent under it, which had fewer events/);
  assert.equal((await logOf(pombo, name)).length, 1 + 1 + 2, 'nor did the longer batch');
  // So is a shorter one, and a single event where a batch of one was sent: a retry sends the same request.
  assertError(await keyed(name, [batch[0]], 'batch-7'), 422, 'POMBO_ERR_IDEMPOTENCY_KEY_REUSED', /the request first sent under it had 2 events, this one has 1/);
  assert.equal((await keyed(name, [batch[0]], 'one-7')).status, 201);
  assertError(await keyed(name, batch[0], 'one-7'), 422, 'POMBO_ERR_IDEMPOTENCY_KEY_REUSED', /it is not the request first sent under it/);
  // Even when the events carry their own ids, the same for both: a batch of one is not the event alone.
  const own = { event: 'CALL', data: { n: 'own' }, id: 'own-7' };
  assert.equal((await keyed(name, own, 'own-7')).status, 201);
  assertError(await keyed(name, [own], 'own-7'), 422, 'POMBO_ERR_IDEMPOTENCY_KEY_REUSED', /it is not the request first sent under it \(.*whether it is a batch\)/);
  assert.equal((await keyed(name, own, 'own-7')).status, 200, 'the event alone again is the retry');
  assert.equal((await logOf(pombo, name)).length, 1 + 1 + 2 + 1 + 1, 'none of the refused requests appended anything');
});

test("a request refused for its reused Idempotency-Key changes nothing, not even the instance's number its sender names", async () => {
  const name = await ingestInstance();
  const jid = () => `55118${randomInt(10_000_000, 100_000_000)}@s.whatsapp.net`;
  const [own, other] = [jid(), jid()];
  const evolution = (sender: string, id: string) => ({ event: 'messages.upsert', instance: name, sender, data: { key: { id } } });
  assert.equal((await keyed(name, evolution(own, 'first'), 'evo-7')).status, 201);
  assertError(await keyed(name, evolution(other, 'second'), 'evo-7'), 422, 'POMBO_ERR_IDEMPOTENCY_KEY_REUSED', /the event differs in its data/);

  const found = await pombo.api('GET', `/instance/fetchInstances?instanceName=${name}`);
  assert.equal(found.body[0].ownerJid, own, "this node's memory keeps the number");
  const raw = new Database(join(pombo.dataDir, 'pombo.db'), { readonly: true });
  const row = raw.prepare('SELECT owner_jid FROM instances WHERE name = ?').get(name) as { owner_jid: string };
  raw.close();
  assert.equal(row.owner_jid, own, 'so does the database');
  const taker = await ingestInstance();
  const took = await pombo.api('POST', `/events/${taker}`, { event: 'messages.upsert', instance: taker, sender: other, data: {} });
  assert.equal(took.status, 201, `the number the refused request named is still free: ${JSON.stringify(took.body)}`);
});

test('a keyed batch sent again after retention pruned its first events: those are appended again, the kept ones are duplicates', async () => {
  const name = await ingestInstance();
  const batch = [{ event: 'CALL', data: { n: 0 } }, { event: 'CALL', data: { n: 1 } }, { event: 'CALL', data: { n: 2 } }];
  const first = await keyed(name, batch, 'late-retry');
  assert.equal(first.status, 201);
  // Retention deletes the oldest events first (a pending delivery can keep one): here the batch's first.
  const raw = new Database(join(pombo.dataDir, 'pombo.db'));
  raw.prepare('DELETE FROM events WHERE id = ?').run(first.body.events[0].id);
  raw.close();
  const again = await keyed(name, batch, 'late-retry');
  assert.equal(again.status, 201, JSON.stringify(again.body));
  assert.deepEqual(again.body.events.map((event: { duplicate: boolean }) => event.duplicate), [false, true, true]);
});

test('two requests racing with one Idempotency-Key and different events: one is stored, the other is refused, never answered with the first one\'s events as its own', async () => {
  const name = await ingestInstance();
  for (let round = 0; round < 6; round++) {
    const key = `race-${round}`;
    const answers = await Promise.all([
      keyed(name, [{ event: 'CALL', data: { from: 'a', round } }, { event: 'CALL', data: { from: 'a', round, n: 2 } }], key),
      keyed(name, [{ event: 'CALL', data: { from: 'b', round } }, { event: 'CALL', data: { from: 'b', round, n: 2 } }], key),
    ]);
    const statuses = answers.map((answer) => answer.status).sort();
    assert.equal(statuses[0], 201, `round ${round}: one request is stored (${statuses})`);
    assert.ok(statuses[1] === 409 || statuses[1] === 422, `round ${round}: the other is refused, got ${statuses[1]}: ${JSON.stringify(answers.map((answer) => answer.body))}`);
    const refused = answers.find((answer) => answer.status !== 201)!;
    if (refused.status === 409) assert.equal(refused.body.code, 'POMBO_ERR_IDEMPOTENCY_KEY_CONFLICT');
  }
  const log = await logOf(pombo, name);
  assert.equal(log.length, 1 + 12, 'INSTANCE_CREATE, then two events a round: the winner\'s');
});

/**
 * Over HTTP on SQLite the two requests of a round reach the store in one commit (a 409) or one after
 * the other's (a 422) as timing falls, so the test asserts what holds for either answer. A race made
 * certain, calls of every length in one commit, is the store conformance suite's; two nodes at once,
 * test/store/postgres-cluster-log.test.ts's.
 */
test('two requests sent at once with one Idempotency-Key and batches of different lengths: one is stored; the other, refused with a 422 or a 409, names the stored one\'s events, and nothing of it is stored', async () => {
  const name = await ingestInstance();
  const batchOf = (from: string, round: number, length: number) => Array.from({ length }, (_, n) => ({ event: 'CALL', data: { from, round, n } }));
  const winners: string[] = [];
  for (let round = 0; round < 6; round++) {
    const key = `uneven-race-${round}`;
    // The longer batch goes first in half the rounds and second in the others, so that it is refused in some.
    const [first, second] = round % 2 ? ['short', 'long'] : ['long', 'short'];
    const lengthOf = (from: string) => (from === 'long' ? 3 : 2);
    const answers = await Promise.all([first, second].map((from) => keyed(name, batchOf(from, round, lengthOf(from)), key)));
    const shown = JSON.stringify(answers.map((answer) => answer.body));
    const stored = answers.findIndex((answer) => answer.status === 201);
    const refused = answers[1 - stored]!;
    assert.ok(stored >= 0 && (refused.status === 409 || refused.status === 422), `round ${round}: one stored, one refused: ${shown}`);
    const storedFirst = answers[stored]!.body.events[0].id as string;
    // Either way the refusal compares the request with the one that holds the key, event by event.
    const differs = new RegExp(`events\\[0\\] differs in its data from the one (the other request )?stored as ${storedFirst}`);
    if (refused.status === 409) assertError(refused, 409, 'POMBO_ERR_IDEMPOTENCY_KEY_CONFLICT', /nothing of this request was stored/);
    assertError(refused, refused.status, refused.status === 409 ? 'POMBO_ERR_IDEMPOTENCY_KEY_CONFLICT' : 'POMBO_ERR_IDEMPOTENCY_KEY_REUSED', differs);
    winners.push(...batchOf([first, second][stored]!, round, lengthOf([first, second][stored]!)).map(({ data }) => JSON.stringify(data)));
  }
  const log = (await logOf(pombo, name)).filter((event) => event.event === 'call');
  assert.deepEqual(log.map((event) => JSON.stringify(event.data)), winners, "the log holds the stored requests' events, and not one of the refused requests'");
});

test('a channel the server has disabled is still configured, and find says the server has it off', async () => {
  const name = await ingestInstance();
  const set = await pombo.api('POST', `/rabbitmq/set/${name}`, { rabbitmq: { enabled: true, events: ['MESSAGES_UPSERT'] } });
  assert.equal(set.status, 201);
  assert.equal(set.body.channelEnabled, false);
  assert.match(set.body.hint, /RABBITMQ_ENABLED=false/);
});
