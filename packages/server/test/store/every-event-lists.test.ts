import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { EVENT_KEYS } from '../../src/core/event-names.ts';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../../src/store/sqlite/schema.ts';
import { MIGRATIONS as POSTGRES_MIGRATIONS } from '../../src/store/postgres/postgres-schema.ts';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { POSTGRES_SERVER, postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { receiverFor, type Receiver } from '../webhook/http-receiver.ts';
import { emit, message, settled, type TestInstance } from '../webhook/webhook-fixtures.ts';

/**
 * An `events` list that means every event is stored as no list, read as every key of the day; lists
 * stored before as every key there was are rewritten once by a migration of each store
 * (store/every-event-lists.ts). `find` shows what it showed before, and the destinations get
 * the events added to the table since (STATUS_INSTANCE).
 */

/** Every key there was before STATUS_INSTANCE: what an empty list was stored as then. */
const BEFORE_STATUS = EVENT_KEYS.filter((key) => key !== 'STATUS_INSTANCE');
/** The same, stored before WEBHOOK_DISABLED was added too. */
const BEFORE_DISABLED = BEFORE_STATUS.filter((key) => key !== 'WEBHOOK_DISABLED');
const NAMED = ['MESSAGES_UPSERT', 'CONNECTION_UPDATE'];

const sorted = (keys: readonly string[]) => [...keys].sort();
/** Each store's migration that rewrites the lists: the steps before it make the database this test starts from. */
const SQLITE_LISTS_STEP = SQLITE_MIGRATIONS.findIndex((step) => step.includes('json_tree'));
const POSTGRES_LISTS_STEP = POSTGRES_MIGRATIONS.findIndex((step) => step.includes('$every_event$'));

test('an empty or missing events list reads as every event in every channel that names them; a disabled one as none; the same after a restart', async (t) => {
  const pombo = await startPombo();
  t.after(() => pombo.close());
  const name = uniqueName('every');
  const created = await pombo.api('POST', '/instance/create', {
    instanceName: name,
    integration: 'INGEST',
    webhook: { url: 'http://127.0.0.1:9/hook', events: [] },
    websocket: { enabled: true },
    rabbitmq: { enabled: false, events: ['CALL'] },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.deepEqual([created.body.webhook.events, created.body.websocket.events, created.body.rabbitmq.events], [EVENT_KEYS, EVENT_KEYS, []], 'create answers as find does');
  await pombo.api('POST', `/nats/set/${name}`, { nats: { enabled: true, events: [] } });
  const endpoint = await pombo.api('POST', `/webhook/endpoints/${name}`, { url: 'http://127.0.0.1:9/endpoint' });
  assert.deepEqual(endpoint.body.events, EVENT_KEYS);
  const named = await pombo.api('POST', `/webhook/endpoints/${name}`, { url: 'http://127.0.0.1:9/named', events: NAMED });
  assert.deepEqual(named.body.events, NAMED);
  const patched = await pombo.api('PATCH', `/webhook/endpoints/${name}/${endpoint.body.id}`, { description: 'kept every event' });
  assert.deepEqual(patched.body.events, EVENT_KEYS, 'a PATCH without events keeps every event');

  const shown = async (harness: Harness) => ({
    webhook: (await harness.api('GET', `/webhook/find/${name}`)).body.events,
    websocket: (await harness.api('GET', `/websocket/find/${name}`)).body.events,
    rabbitmq: (await harness.api('GET', `/rabbitmq/find/${name}`)).body.events,
    nats: (await harness.api('GET', `/nats/find/${name}`)).body.events,
    endpoints: (await harness.api('GET', `/webhook/endpoints/${name}`)).body.endpoints.map((one: { events: string[] }) => one.events),
  });
  const expected = { webhook: EVENT_KEYS, websocket: EVENT_KEYS, rabbitmq: [], nats: EVENT_KEYS, endpoints: [EVENT_KEYS, NAMED] };
  assert.deepEqual(await shown(pombo), expected);
  await pombo.close({ keepData: true });
  const again = await startPombo({}, pombo.dataDir);
  t.after(async () => {
    await again.close();
    rmSync(pombo.dataDir, { recursive: true, force: true });
  });
  assert.deepEqual(await shown(again), expected, 'read back from the database');
});

/** An instance's channels as a Pombo of the version before stored them: its lists of every key there was. */
const oldChannels = (receiver: Receiver) => ({
  webhook: { enabled: true, url: `${receiver.url}/every`, events: BEFORE_STATUS, headers: {}, base64: false, byEvents: false, secret: null, ordering: 'none', maxInFlight: null },
  webhookEndpoints: [
    { enabled: true, url: `${receiver.url}/named`, events: NAMED, headers: {}, base64: false, byEvents: false, secret: null, ordering: 'none', maxInFlight: null, id: 'ep_named', description: null, createdAt: '2026-01-01T00:00:00.000Z' },
    { enabled: true, url: `${receiver.url}/older`, events: BEFORE_DISABLED, headers: {}, base64: false, byEvents: false, secret: null, ordering: 'none', maxInFlight: null, id: 'ep_older', description: null, createdAt: '2026-01-01T00:00:00.000Z' },
  ],
  rabbitmq: { enabled: false, events: [], ordering: 'instance', filter: null },
});

/** Starts a Pombo on the database holding `instance` as the version before left it, and checks what it shows and delivers. */
async function assertReadAsBefore(harness: Harness, instance: TestInstance, receiver: Receiver): Promise<void> {
  const found = (await harness.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.deepEqual(sorted(found.events), sorted([...BEFORE_STATUS, 'STATUS_INSTANCE']), 'find shows the keys it showed before');
  assert.deepEqual(found.events, EVENT_KEYS, 'as a webhook set today with no events shows them');
  const endpoints = (await harness.api('GET', `/webhook/endpoints/${instance.name}`)).body.endpoints;
  assert.deepEqual(endpoints.map((endpoint: { events: string[] }) => endpoint.events), [NAMED, [...BEFORE_DISABLED, 'STATUS_INSTANCE']], 'other lists as they read before');
  assert.deepEqual((await harness.api('GET', `/rabbitmq/find/${instance.name}`)).body.events, [], 'a disabled channel selects none');

  await emit(harness, instance, [{ event: 'STATUS_INSTANCE', data: { instance: instance.name, status: 'closed' } }, message('5511999990000@s.whatsapp.net', 'hi')]);
  await settled(harness, instance);
  for (const id of ['ep_named', 'ep_older']) await harness.pombo.context.dispatcher.whenIdle(`webhook:${instance.id}:${id}`);
  const got = (path: string) => receiver.accepted().filter((request) => request.url === path).map((request) => request.json.event);
  assert.deepEqual(got('/every'), ['status.instance', 'messages.upsert'], 'the list that meant every event gets status.instance');
  assert.deepEqual(got('/older'), ['status.instance', 'messages.upsert']);
  assert.deepEqual(got('/named'), ['messages.upsert'], 'a list that named some keys keeps selecting just those');
}

test('SQLite: lists stored as every key before STATUS_INSTANCE read as before after the migration, and get status.instance', async (t) => {
  const receiver = await receiverFor(t);
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-lists-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const raw = new Database(join(dataDir, 'pombo.db'));
  for (const step of SQLITE_MIGRATIONS.slice(0, SQLITE_LISTS_STEP)) raw.exec(step);
  raw.pragma(`user_version = ${SQLITE_LISTS_STEP}`);
  const instance = { id: randomUUID(), name: uniqueName('old') };
  raw
    .prepare("INSERT INTO instances (id, name, token, integration, channels, created_at) VALUES (?, ?, ?, 'INGEST', ?, '2026-01-01T00:00:00.000Z')")
    .run(instance.id, instance.name, randomUUID(), JSON.stringify(oldChannels(receiver)));
  raw.close();

  const pombo = await startPombo({}, dataDir);
  t.after(() => pombo.close());
  await assertReadAsBefore(pombo, instance, receiver);
  const stored = new Database(join(dataDir, 'pombo.db'), { readonly: true });
  const channels = JSON.parse((stored.prepare('SELECT channels FROM instances').get() as { channels: string }).channels);
  stored.close();
  assert.ok(!('events' in channels.webhook), 'every event is stored as no list');
});

const postgres = await postgresTestSchema();

test('PostgreSQL: lists stored as every key before STATUS_INSTANCE read as before after the migration, and get status.instance', postgres.service, async (t: TestContext) => {
  const receiver = await receiverFor(t);
  const admin = new pg.Client({ connectionString: POSTGRES_SERVER });
  await admin.connect();
  t.after(() => admin.end());
  await admin.query(`CREATE SCHEMA "${postgres.schema}"; SET search_path TO "${postgres.schema}"`);
  for (const step of POSTGRES_MIGRATIONS.slice(0, POSTGRES_LISTS_STEP)) await admin.query(step);
  await admin.query(`CREATE TABLE pombo_schema_version (version INTEGER NOT NULL); INSERT INTO pombo_schema_version VALUES (${POSTGRES_LISTS_STEP})`);
  const instance = { id: randomUUID(), name: uniqueName('old') };
  await admin.query("INSERT INTO pombo_instances (id, name, token, integration, channels, created_at) VALUES ($1, $2, $3, 'INGEST', $4, '2026-01-01T00:00:00.000Z')", [
    instance.id,
    instance.name,
    randomUUID(),
    JSON.stringify(oldChannels(receiver)),
  ]);

  const pombo = await startPombo({ DATABASE_PROVIDER: 'postgresql', DATABASE_CONNECTION_URI: postgres.uri });
  t.after(() => pombo.close());
  await assertReadAsBefore(pombo, instance, receiver);
  const { rows } = await admin.query('SELECT channels FROM pombo_instances');
  assert.ok(!('events' in rows[0].channels.webhook), 'every event is stored as no list');
});
