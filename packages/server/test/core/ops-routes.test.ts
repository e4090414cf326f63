import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { startReceiver } from '../webhook/http-receiver.ts';
import { assertError } from './http-assert.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo();
});
after(async () => {
  await pombo.close();
});

test('GET / answers a status JSON without a key', async () => {
  const res = await pombo.api('GET', '/', undefined, null);
  assert.equal(res.status, 200);
  assert.equal(res.body.status, 200);
  assert.match(res.body.message, /Pombo/);
  assert.match(res.body.version, /^\d+\.\d+\.\d+$/);
  assert.ok(!Number.isNaN(Date.parse(res.body.startedAt)));
});

test('GET /health says the store answers, without a key', async () => {
  const res = await pombo.api('GET', '/health', undefined, null);
  assert.deepEqual([res.status, res.body], [200, { status: 'ok', store: 'sqlite' }]);
});

test('GET /metrics needs the global key and counts appended events', async () => {
  const name = uniqueName('metrics');
  const { token } = await pombo.sandbox(name);
  assertError(await pombo.api('GET', '/metrics', undefined, null), 401, 'POMBO_ERR_UNAUTHORIZED');
  assertError(await pombo.api('GET', '/metrics', undefined, token), 403, 'POMBO_ERR_FORBIDDEN');
  const count = async (labels: string) => {
    const res = await pombo.api('GET', '/metrics');
    assert.equal(res.status, 200);
    const line = (res.body as string).split('\n').find((l) => l.startsWith(`pombo_events_appended_total{${labels}}`));
    return Number(line?.split(' ').at(-1) ?? 0);
  };
  const before = await count('event="CALL",source="ingest"');
  await pombo.api('POST', `/events/${name}`, [{ event: 'CALL', data: {} }, { event: 'CALL', data: {} }]);
  await pombo.api('POST', `/events/${name}`, { event: 'CALL', data: {}, id: 'once' });
  await pombo.api('POST', `/events/${name}`, { event: 'CALL', data: {}, id: 'once' });
  assert.equal(await count('event="CALL",source="ingest"'), before + 3, 'duplicates are not counted');
  assert.ok((await count('event="INSTANCE_CREATE",source="api"')) >= 1);
  const res = await fetch(`${pombo.url}/metrics`, { headers: { authorization: `Bearer ${pombo.apiKey}` } });
  assert.equal(res.status, 200, 'Prometheus scrapers can send the key as a bearer token');
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  assert.match(text, /# TYPE pombo_events_appended_total counter/);
  assert.match(text, /pombo_process_/);
  for (const scope of ['root', 'root-instance', 'instance']) {
    assert.match(text, new RegExp(`^pombo_socketio_connections\\{scope="${scope}"\\} \\d+$`, 'm'), `Socket.IO connections by ${scope}, 0 before any connects`);
  }
});

test('a scrape of /metrics names destinations by channel and instance name, and process metrics once', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const name = uniqueName('scrape');
  const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', webhook: { enabled: true, url: receiver.url } });
  assert.equal(created.status, 201);
  const instanceId: string = created.body.instance.instanceId;
  await pombo.api('POST', `/events/${name}`, [{ event: 'CALL', data: {} }, { event: 'CALL', data: {} }]);
  // Its instance.create, then both calls.
  await eventually(() => receiver.accepted().length === 3, 'the three deliveries');
  const scrape = async () => (await fetch(`${pombo.url}/metrics`, { headers: { authorization: `Bearer ${pombo.apiKey}` } })).text();
  // The cursor is saved a few milliseconds after the delivery: the lag reaches 0 then.
  const text = await eventually(async (): Promise<string | undefined> => {
    const scraped = await scrape();
    return scraped.includes(`pombo_destination_lag_events{channel="webhook",instance_name="${name}"} 0`) ? scraped : undefined;
  }, 'the lag to reach 0');
  assert.ok(text.includes(`pombo_deliveries_total{channel="webhook",instance_name="${name}",outcome="delivered"} 3`), 'deliveries by channel and instance name');
  assert.ok(text.includes(`pombo_destination_retrying{channel="webhook",instance_name="${name}"} 0`));
  assert.ok(!text.includes(instanceId), 'no instance id in any label');
  assert.match(text, /^pombo_process_cpu_user_seconds_total \d/m);
  assert.match(text, /^pombo_nodejs_heap_size_used_bytes \d/m);
  assert.doesNotMatch(text, /process_process|pombo_process_nodejs/);
});

test('a deleted instance leaves no series in /metrics, named by its name or its id', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const name = uniqueName('gone');
  // A filter that skips sent messages: the instance has events_filtered series too.
  const webhook = { enabled: true, url: receiver.url, filter: { fromMe: false } };
  const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', webhook });
  assert.equal(created.status, 201);
  const instanceId: string = created.body.instance.instanceId;
  const message = (fromMe: boolean) => ({ event: 'MESSAGES_UPSERT', data: { key: { remoteJid: '5511999990001@s.whatsapp.net', fromMe, id: `m-${fromMe}` } } });
  await pombo.api('POST', `/events/${name}`, [message(false), message(true)]);
  await eventually(() => receiver.accepted().length === 1, 'the delivery');
  const scrape = async () => (await fetch(`${pombo.url}/metrics`, { headers: { authorization: `Bearer ${pombo.apiKey}` } })).text();
  const before = await scrape();
  assert.ok(before.includes(`pombo_deliveries_total{channel="webhook",instance_name="${name}",outcome="delivered"} 1`));
  assert.ok(before.includes(`pombo_events_filtered_total{channel="webhook",instance_name="${name}"} 1`));
  assert.equal((await pombo.api('DELETE', `/instance/delete/${name}`)).status, 200);
  // Its destinations first deliver the removal events (INSTANCE_DELETE, REMOVE_INSTANCE), then go.
  const { dispatcher } = pombo.pombo.context;
  await eventually(() => !dispatcher.specs().some((spec) => spec.instanceId === instanceId), 'its destinations to go');
  await eventually(async () => !(await scrape()).includes(name), 'its series to go', 2_000).catch(() => undefined);
  const after = await scrape();
  const left = after.split('\n').filter((line) => line.includes(name) || line.includes(instanceId));
  assert.deepEqual(left, [], 'no series names the deleted instance');
});

test('GET /health is a 503 in our shape when the store does not answer', async () => {
  const broken = await startPombo();
  try {
    await broken.pombo.context.store.close();
    assertError(await broken.api('GET', '/health', undefined, null), 503, 'POMBO_ERR_UNAVAILABLE', /event store does not answer/);
  } finally {
    await broken.close().catch(() => undefined);
  }
});
