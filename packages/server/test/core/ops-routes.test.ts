import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
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
