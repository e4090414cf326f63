import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { freePort } from '../helpers/child-pombo.ts';
import { receiverFor } from './http-receiver.ts';
import { emit, FAST_RETRIES, instanceWithWebhook, message, settled, type TestInstance } from './webhook-fixtures.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo({ ...FAST_RETRIES, WEBHOOK_RETRY_MAX_ATTEMPTS: '3', WEBHOOK_REQUEST_TIMEOUT_MS: '500' });
});
after(() => pombo.close());

const deliveries = async (instance: TestInstance, query = '') => {
  const response = await pombo.api('GET', `/webhook/deliveries/${instance.name}${query}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.deliveries as Array<{ id: string; event: string; status: string; attempts: any[]; nextAttemptAt: string | null }>;
};

/** Waits until the delivery log answers `count` records for `query`. */
const records = (instance: TestInstance, query: string, count = 1) =>
  eventually(async () => {
    const found = await deliveries(instance, query);
    return found.length === count ? found : undefined;
  }, `${count} record(s) for ${query}`);

test('a failing delivery is retried with the same id until it succeeds, and the log keeps every attempt', async (t) => {
  const receiver = await receiverFor(t, (_request, all) =>
    all.length === 1 ? { status: 500, body: 'x'.repeat(5000) } : all.length === 2 ? { status: 502, body: 'bad gateway' } : { status: 200 },
  );
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  const [id] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'retry')]);
  await eventually(() => receiver.accepted().length === 1, 'the successful attempt');
  assert.equal(receiver.requests.length, 3);
  assert.deepEqual(new Set(receiver.requests.map((request) => request.json.id)), new Set([id]));
  const [record] = await records(instance, '?status=delivered');
  assert.equal(record?.id, id);
  assert.equal(record?.event, 'messages.upsert');
  assert.deepEqual(record?.attempts.map((attempt) => attempt.statusCode), [500, 502, 200]);
  assert.equal(record?.attempts[0].error, 'HTTP 500');
  assert.equal(record?.attempts[0].response.length, 256, 'response bodies are truncated to 256 bytes');
  assert.equal(record?.attempts[1].response, 'bad gateway');
  for (const attempt of record?.attempts ?? []) {
    assert.equal(typeof attempt.durationMs, 'number');
    assert.ok(!Number.isNaN(Date.parse(attempt.at)));
  }
});

test("the log keeps a receiver's answer with its credentials masked, and an empty answer as empty", async (t) => {
  const receiver = await receiverFor(t, (_request, all) =>
    all.length === 1 ? { status: 500, body: '{"error":"bad key","api_key":"sk_live_123"}' } : { status: 200, body: '' },
  );
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'masked')]);
  const [record] = await records(instance, '?status=delivered');
  assert.deepEqual(record?.attempts.map((attempt) => attempt.statusCode), [500, 200]);
  assert.equal(record?.attempts[0].response, '{"error":"bad key","api_key":"[redacted]"}');
  assert.equal(record?.attempts[1].response, '', 'an empty answer is logged as empty');
});

test('a non-retryable status dead-letters the delivery at once', async (t) => {
  const receiver = await receiverFor(t, () => ({ status: 404, body: 'no such hook' }));
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  const [id] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'gone')]);
  const [record] = await records(instance, '?status=failed');
  await settled(pombo, instance);
  assert.equal(receiver.requests.length, 1, 'no retry after a 404');
  assert.equal(record?.id, id);
  assert.equal(record?.attempts.length, 1);
  assert.equal(record?.attempts[0].statusCode, 404);
  assert.equal(record?.attempts[0].response, 'no such hook');
});

test('429 with Retry-After waits as long as the receiver asked', async (t) => {
  const receiver = await receiverFor(t, (_request, all) => (all.length === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'slow down')]);
  await eventually(() => receiver.accepted().length === 1, 'the retry after Retry-After');
  const [first, second] = receiver.requests;
  assert.ok(first && second);
  // The configured backoff would retry after 50 ms; Retry-After: 1 asks for a second.
  assert.ok(second.at - first.at >= 900, `retried after ${second.at - first.at} ms`);
});

test('503 with Retry-After, its name in any case, waits as long as the receiver asked', async (t) => {
  const receiver = await receiverFor(t, (_request, all) => (all.length === 1 ? { status: 503, headers: { 'Retry-After': '1' }, body: 'busy' } : { status: 200 }));
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'busy')]);
  await eventually(() => receiver.accepted().length === 1, 'the retry after Retry-After');
  const [first, second] = receiver.requests;
  assert.ok(first && second);
  assert.ok(second.at - first.at >= 900, `retried after ${second.at - first.at} ms`);
  const [record] = await records(instance, '?status=delivered');
  assert.deepEqual(record?.attempts.map((attempt) => [attempt.statusCode, attempt.response]), [[503, 'busy'], [200, 'ok']]);
});

test('an answer larger than 64 KiB is judged by its status, logged by its first 256 bytes, and later events still go', async (t) => {
  const huge = `${'a'.repeat(256)}${'b'.repeat(1024 * 1024)}`;
  const receiver = await receiverFor(t, (_request, all) => (all.length === 1 ? { status: 200, body: huge } : { status: 200 }));
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, ordering: 'instance' });
  const ids = await emit(pombo, instance, [message('a@s.whatsapp.net', 'huge answer'), message('a@s.whatsapp.net', 'next')]);
  const found = await records(instance, '?status=delivered', 2);
  assert.deepEqual(receiver.deliveredIds(), ids, 'each event once, in order');
  assert.deepEqual(
    found.map((record) => [record.id, record.attempts.length, record.attempts[0].response]),
    [
      [ids[0], 1, 'a'.repeat(256)],
      [ids[1], 1, 'ok'],
    ],
  );
});

test('an endpoint that does not answer within the timeout is retried', async (t) => {
  const receiver = await receiverFor(t, (_request, all) => (all.length === 1 ? { hang: true } : { status: 200 }));
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'timeout')]);
  await eventually(() => receiver.accepted().length === 1, 'the attempt after the timeout');
  const [record] = await records(instance, '?status=delivered');
  assert.match(record?.attempts[0].error, /timeout: no answer within 500 ms/);
  assert.equal(record?.attempts[1].statusCode, 200);
});

test('a receiver that keeps sending 102 Processing does not hold a delivery past the timeout: it is retried as timed out', async (t) => {
  let requests = 0;
  // A real HTTP server: the first request gets an interim 102 every 200 ms for 3 s, then a 200.
  const server = createServer((_request, response) => {
    if (++requests > 1) return void response.writeHead(200).end('ok');
    const interim = setInterval(() => response.writeProcessing(), 200);
    setTimeout(() => {
      clearInterval(interim);
      if (!response.destroyed) response.writeHead(200).end('late');
    }, 3000);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => void server.close());
  const instance = await instanceWithWebhook(pombo, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` });
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'processing')]);
  const [record] = await records(instance, '?status=delivered');
  assert.match(record?.attempts[0].error, /timeout: no answer within 500 ms/);
  assert.ok(record?.attempts[0].durationMs < 2000, `${record?.attempts[0].durationMs} ms`);
  assert.equal(record?.attempts[1].statusCode, 200);
});

test('after the last attempt the delivery is a dead letter with its attempts; replay delivers it', async (t) => {
  let up = false;
  const receiver = await receiverFor(t, () => ({ status: up ? 200 : 500 }));
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  const ids = await emit(pombo, instance, [message('a@s.whatsapp.net', 'd1'), message('b@s.whatsapp.net', 'd2')]);
  const failed = await records(instance, '?status=failed', 2);
  for (const record of failed) {
    assert.deepEqual(record.attempts.map((attempt) => attempt.statusCode), [500, 500, 500], 'WEBHOOK_RETRY_MAX_ATTEMPTS=3 attempts kept');
    assert.equal(record.nextAttemptAt, null);
  }
  assert.equal(receiver.requests.length, 6);

  up = true;
  const replay = await pombo.api('POST', `/webhook/replay/${instance.name}`, { status: 'failed' });
  assert.equal(replay.status, 202, JSON.stringify(replay.body));
  assert.equal(replay.body.replayed, 2);
  await eventually(() => receiver.accepted().length === 2, 'both replayed events');
  assert.deepEqual(new Set(receiver.deliveredIds()), new Set(ids));
  await records(instance, '?status=delivered', 2);
  assert.deepEqual(await deliveries(instance, '?status=failed'), []);
});

test('replay by ids and by time range delivers those events again', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, events: ['MESSAGES_UPSERT'] });
  const from = new Date().toISOString();
  const ids = await emit(pombo, instance, [
    message('a@s.whatsapp.net', 'r1'),
    { event: 'CONNECTION_UPDATE', data: { state: 'open' } },
    message('a@s.whatsapp.net', 'r2'),
  ]);
  await eventually(() => receiver.accepted().length === 2, 'the first deliveries');
  await settled(pombo, instance);
  const to = new Date(Date.now() + 1000).toISOString();

  const byId = await pombo.api('POST', `/webhook/replay/${instance.name}`, { ids: [ids[0], 'evt_unknown'] });
  assert.equal(byId.status, 202, JSON.stringify(byId.body));
  assert.deepEqual(byId.body.notFound, ['evt_unknown']);
  await eventually(() => receiver.accepted().length === 3, 'the replay by id');
  assert.equal(receiver.deliveredIds()[2], ids[0]);
  await settled(pombo, instance);

  const byRange = await pombo.api('POST', `/webhook/replay/${instance.name}`, { from, to });
  assert.equal(byRange.status, 202, JSON.stringify(byRange.body));
  assert.equal(byRange.body.selected, 2, "the range holds the webhook's two MESSAGES_UPSERT (its filter applies)");
  await eventually(() => receiver.accepted().length === 5, 'the replay by range');
  assert.deepEqual(receiver.deliveredIds().slice(3).sort(), [ids[0], ids[2]].sort());
});

test('replay answers 400 for a bad body and 409 when the instance has no webhook', async (t) => {
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const bad: Array<[unknown, RegExp]> = [
    [{}, /exactly one of/],
    [{ status: 'failed', ids: ['x'] }, /exactly one of/],
    [{ status: 'delivered' }, /status must be "failed"/],
    [{ ids: [] }, /ids must be an array of 1 to/],
    [{ ids: [1] }, /ids must be an array/],
    [{ from: 'yesterday' }, /from must be an ISO 8601 time/],
    [{ from: '2025-02-01T00:00:00Z', to: '2025-01-01T00:00:00Z' }, /from must not be later than to/],
    [[], /body must be a JSON object/],
  ];
  for (const [body, message] of bad) {
    const response = await pombo.api('POST', `/webhook/replay/${instance.name}`, body);
    assert.equal(response.status, 400, JSON.stringify(body));
    assert.match(response.body.response.message[0], message);
  }
  const none = await pombo.api('POST', `/webhook/replay/${instance.name}`, { status: 'failed' });
  assert.equal(none.status, 409);
  assert.equal(none.body.code, 'POMBO_ERR_WEBHOOK_NOT_SET');
  assert.match(none.body.response.message[0], /has no enabled webhook: set one with POST \/webhook\/set\//);
});

test('the delivery log filters by status and event and pages with after', async (t) => {
  const port = await freePort();
  const receiver = await receiverFor(t, (request) => ({ status: request.json.event === 'connection.update' ? 400 : 200 }));
  const refused = await instanceWithWebhook(pombo, { url: `http://127.0.0.1:${port}/closed` });
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  await emit(pombo, refused, [message('a@s.whatsapp.net', 'nobody')]);
  await emit(pombo, instance, [
    message('a@s.whatsapp.net', 'p1'),
    message('a@s.whatsapp.net', 'p2'),
    message('a@s.whatsapp.net', 'p3'),
    { event: 'CONNECTION_UPDATE', data: { state: 'open' } },
  ]);
  await records(instance, '', 4);
  assert.equal((await deliveries(instance, '?status=delivered')).length, 3);
  assert.deepEqual((await deliveries(instance, '?status=failed')).map((record) => record.event), ['connection.update']);
  assert.equal((await deliveries(instance, '?event=CONNECTION_UPDATE')).length, 1);
  assert.equal((await deliveries(instance, '?event=messages.upsert&status=delivered')).length, 3);
  const page1 = await pombo.api('GET', `/webhook/deliveries/${instance.name}?limit=2`);
  assert.equal(page1.body.deliveries.length, 2);
  const page2 = await pombo.api('GET', `/webhook/deliveries/${instance.name}?limit=2&after=${page1.body.next}`);
  assert.equal(page2.body.deliveries.length, 2);
  assert.equal(new Set([...page1.body.deliveries, ...page2.body.deliveries].map((record: { id: string }) => record.id)).size, 4);
  assert.equal((await pombo.api('GET', `/webhook/deliveries/${instance.name}?status=dead`)).status, 400);
  assert.equal((await pombo.api('GET', `/webhook/deliveries/${instance.name}?limit=0`)).status, 400);
  assert.equal((await pombo.api('GET', `/webhook/deliveries/${instance.name}?event=NOPE`)).status, 400);
  assert.equal((await pombo.api('GET', `/webhook/deliveries/${instance.name}?after=evt_missing`)).status, 400);

  const [dead] = await records(refused, '?status=failed');
  assert.deepEqual(dead?.attempts.map((attempt) => attempt.error), ['connection refused', 'connection refused', 'connection refused']);
  // Its last attempt is its dead letter in the metrics, where an alert on dead letters looks.
  const metrics = (await pombo.api('GET', '/metrics')).body as string;
  const count = (outcome: string) => Number(new RegExp(`pombo_deliveries_total\\{channel="webhook",instance_name="${refused.name}",outcome="${outcome}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
  assert.deepEqual([count('retry'), count('dead')], [2, 1]);
});
