import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { assertError, logOf } from './http-assert.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo();
});
after(async () => {
  await pombo.close();
});

async function ingestInstance(): Promise<string> {
  const name = uniqueName('ingest');
  const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
  assert.equal(created.status, 201);
  return name;
}

const message = (i: number) => ({ key: { remoteJid: '5511955554444@s.whatsapp.net', fromMe: false, id: `M${i}` }, message: { conversation: `m${i}` } });

/** What a producer sends with a header (Idempotency-Key). */
async function post(name: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${pombo.url}/events/${name}`, {
    method: 'POST',
    headers: { apikey: pombo.apiKey, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

describe('POST /events/:instanceName', () => {
  test('one event in Pombo’s form is appended and answered with its id and seq', async () => {
    const name = await ingestInstance();
    const res = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: message(1) });
    assert.equal(res.status, 201);
    assert.match(res.body.id, /^evt_/);
    assert.deepEqual({ ...res.body, id: 'x' }, { id: 'x', seq: 2, event: 'MESSAGES_UPSERT', duplicate: false });
    const log = await logOf(pombo, name);
    assert.equal(log.length, 2);
    assert.equal(log[1].id, res.body.id);
    assert.equal(log[1].event, 'messages.upsert');
    assert.deepEqual(log[1].data, message(1));
  });

  test('event names are accepted in any wire form', async () => {
    const name = await ingestInstance();
    for (const event of ['SEND_MESSAGE', 'send.message', 'send-message', 'group-participants.update', 'GROUP_PARTICIPANTS_UPDATE']) {
      assert.equal((await pombo.api('POST', `/events/${name}`, { event, data: { action: 'add' } })).status, 201, event);
    }
    assert.deepEqual((await logOf(pombo, name)).slice(1).map((e) => e.event), [
      'send.message',
      'send.message',
      'send.message',
      'group-participants.update',
      'group-participants.update',
    ]);
  });

  test('a batch of 100 (array or {events}) is appended in order with consecutive seqs', async () => {
    const name = await ingestInstance();
    const batch = Array.from({ length: 100 }, (_, i) => ({ event: i % 2 ? 'MESSAGES_UPDATE' : 'MESSAGES_UPSERT', data: message(i) }));
    const res = await pombo.api('POST', `/events/${name}`, batch);
    assert.equal(res.status, 201);
    assert.equal(res.body.appended, 100);
    assert.equal(res.body.duplicates, 0);
    assert.deepEqual(res.body.events.map((e: any) => e.seq), Array.from({ length: 100 }, (_, i) => i + 2));
    const wrapped = await pombo.api('POST', `/events/${name}`, { events: batch.slice(0, 3) });
    assert.equal(wrapped.body.appended, 3);
    const log = await logOf(pombo, name);
    assert.equal(log.length, 104);
    assert.deepEqual(log.slice(1, 101).map((e) => e.data), batch.map((item) => item.data));
    assert.deepEqual(log.map((e) => e.seq), Array.from({ length: 104 }, (_, i) => i + 1));
  });

  test('a batch over 1000 events, or an empty one, is refused whole', async () => {
    const name = await ingestInstance();
    const batch = Array.from({ length: 1001 }, (_, i) => ({ event: 'CALL', data: { i } }));
    assertError(await pombo.api('POST', `/events/${name}`, batch), 400, 'POMBO_ERR_VALIDATION', /at most 1000 events; got 1001/);
    assertError(await pombo.api('POST', `/events/${name}`, []), 400, 'POMBO_ERR_VALIDATION', /empty/);
    assert.equal((await pombo.api('POST', `/events/${name}`, batch.slice(0, 1000))).body.appended, 1000);
    assert.equal((await logOf(pombo, name)).length, 1001);
  });

  test('a producer id makes retries idempotent: the same id answers 200 duplicate with the first event', async () => {
    const name = await ingestInstance();
    const first = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: message(1), id: 'wamid-1' });
    const again = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: message(1), id: 'wamid-1' });
    assert.equal(first.status, 201);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, { ...first.body, duplicate: true });
    const other = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: message(2), id: 'wamid-2' });
    assert.equal(other.status, 201);
    assert.deepEqual((await logOf(pombo, name)).map((e) => e.seq), [1, 2, 3]);
  });

  test('the Idempotency-Key header does the same for producers that cannot add an id', async () => {
    const name = await ingestInstance();
    const first = await post(name, { event: 'CALL', data: { id: 'c1' } }, { 'idempotency-key': 'req-1' });
    const again = await post(name, { event: 'CALL', data: { id: 'c1' } }, { 'idempotency-key': 'req-1' });
    assert.equal(first.status, 201);
    assert.equal(again.status, 200);
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.id, first.body.id);
    assert.equal((await post(name, { event: 'CALL', data: { id: 'c1' } })).status, 201, 'without a key, a repeat is a new event');
    assert.equal((await logOf(pombo, name)).length, 3);
  });

  test('a retried batch with ids or an Idempotency-Key appends nothing twice', async () => {
    const name = await ingestInstance();
    const withIds = Array.from({ length: 5 }, (_, i) => ({ event: 'MESSAGES_UPSERT', data: message(i), id: `b-${i}` }));
    assert.equal((await pombo.api('POST', `/events/${name}`, withIds)).body.appended, 5);
    const retried = await pombo.api('POST', `/events/${name}`, withIds);
    assert.equal(retried.status, 200);
    assert.deepEqual([retried.body.appended, retried.body.duplicates], [0, 5]);
    assert.ok(retried.body.events.every((e: any) => e.duplicate));
    const keyed = Array.from({ length: 4 }, (_, i) => ({ event: 'CALL', data: { i } }));
    assert.equal((await post(name, keyed, { 'idempotency-key': 'batch-1' })).body.appended, 4);
    const again = await post(name, keyed, { 'idempotency-key': 'batch-1' });
    assert.deepEqual([again.status, again.body.appended, again.body.duplicates], [200, 0, 4]);
    assert.equal((await logOf(pombo, name)).length, 10);
  });

  test('an Evolution API webhook payload is accepted as it is; its identical retry is deduplicated', async () => {
    const name = await ingestInstance();
    const payload = {
      event: 'messages.upsert',
      instance: name,
      data: message(9),
      destination: 'https://pombo.example/events',
      date_time: '2024-01-01T12:00:00.000Z',
      sender: '5511933332222@s.whatsapp.net',
      server_url: 'https://evolution.example',
      apikey: 'EVOLUTION-INSTANCE-KEY-123',
    };
    const first = await pombo.api('POST', `/events/${name}`, payload);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const retry = await pombo.api('POST', `/events/${name}`, payload);
    assert.equal(retry.status, 200);
    assert.equal(retry.body.duplicate, true);
    assert.equal(retry.body.id, first.body.id);
    const next = await pombo.api('POST', `/events/${name}`, { ...payload, data: message(10) });
    assert.equal(next.status, 201, 'a different event is not a duplicate');
    const log = await logOf(pombo, name);
    assert.equal(log.length, 3);
    assert.deepEqual(log[1].data, message(9), 'only data is kept, not the envelope');
    assert.equal(log[1].sender, '5511933332222@s.whatsapp.net', 'the sender becomes the instance’s JID');
    assert.ok(!JSON.stringify(log).includes('EVOLUTION-INSTANCE-KEY-123'), 'the producer’s apikey is not stored');
  });

  test("a sender is one spelling per number: a device suffix, the domain's case or c.us do not make another instance's number a new one", async () => {
    const [owner, other] = [await ingestInstance(), await ingestInstance()];
    const number = `55119${String(Date.now()).slice(-8)}`;
    const from = (name: string, sender: string) => pombo.api('POST', `/events/${name}`, { event: 'messages.upsert', instance: name, sender, data: message(1) });
    assert.equal((await from(owner, `${number}:12@s.whatsapp.net`)).status, 201);
    assert.equal((await logOf(pombo, owner)).at(-1)?.sender, `${number}@s.whatsapp.net`, 'stored without the device');
    for (const spelling of [`${number}@s.whatsapp.net`, `${number}:3@s.whatsapp.net`, `${number}@S.WHATSAPP.NET`, `${number}@c.us`]) {
      assertError(await from(other, spelling), 400, 'POMBO_ERR_VALIDATION', /is the number of another instance/);
    }
    assert.equal((await from(owner, `${number}@C.US`)).status, 201, 'the owner may spell it either way');
  });

  test('an Evolution payload for another instance is refused', async () => {
    const name = await ingestInstance();
    const res = await pombo.api('POST', `/events/${name}`, { event: 'messages.upsert', instance: 'someone-else', data: message(1) });
    assertError(res, 400, 'POMBO_ERR_VALIDATION', new RegExp(`body.instance is "someone-else" but the route names "${name}"`));
    assert.equal((await logOf(pombo, name)).length, 1);
  });

  test('events without data are accepted where Evolution sends null', async () => {
    const name = await ingestInstance();
    assert.equal((await pombo.api('POST', `/events/${name}`, { event: 'LOGOUT_INSTANCE', data: null })).status, 201);
    assert.equal((await pombo.api('POST', `/events/${name}`, { event: 'REMOVE_INSTANCE' })).status, 201);
    assert.deepEqual((await logOf(pombo, name)).slice(1).map((e) => e.data), [null, null]);
  });

  test('an ingested CONNECTION_UPDATE moves the instance’s connection state', async () => {
    const name = await ingestInstance();
    await pombo.api('POST', `/events/${name}`, { event: 'CONNECTION_UPDATE', data: { instance: name, state: 'open', statusReason: 200 } });
    assert.equal((await pombo.api('GET', `/instance/connectionState/${name}`)).body.instance.state, 'open');
    await pombo.api('POST', `/events/${name}`, { event: 'connection.update', data: { instance: name, state: 'close' } });
    assert.equal((await pombo.api('GET', `/instance/connectionState/${name}`)).body.instance.state, 'close');
  });

  test('a sandbox instance accepts ingested events too', async () => {
    const name = uniqueName('sbx');
    await pombo.sandbox(name);
    assert.equal((await pombo.api('POST', `/events/${name}`, { event: 'LABELS_EDIT', data: { id: '1', name: 'vip' } })).status, 201);
  });
});

describe('GET /events/:instanceName', () => {
  test('pages through the log with after, limit and next', async () => {
    const name = await ingestInstance();
    for (let i = 0; i < 3; i++) {
      await pombo.api('POST', `/events/${name}`, Array.from({ length: 83 }, (_, k) => ({ event: 'MESSAGES_UPSERT', data: message(i * 100 + k) })));
    }
    const all = await logOf(pombo, name);
    assert.equal(all.length, 250);
    const seen: any[] = [];
    let after = '';
    let pages = 0;
    for (;;) {
      const page = await pombo.api('GET', `/events/${name}?limit=100${after ? `&after=${after}` : ''}`);
      pages++;
      seen.push(...page.body.events);
      if (!page.body.next) break;
      assert.equal(page.body.next, page.body.events.at(-1).id);
      after = page.body.next;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, all);
    const dflt = await pombo.api('GET', `/events/${name}`);
    assert.equal(dflt.body.events.length, 100, 'the default page is 100');
  });

  test('each event is the envelope of seed 001 with its id and seq', async () => {
    const name = await ingestInstance();
    await pombo.api('POST', `/events/${name}`, { event: 'SEND_MESSAGE', data: message(1) });
    const [, event] = await logOf(pombo, name);
    assert.deepEqual(Object.keys(event).sort(), ['apikey', 'data', 'date_time', 'event', 'id', 'instance', 'sender', 'seq', 'server_url']);
    assert.equal(event.instance, name);
    assert.equal(event.apikey, null, 'tokens stay out of payloads unless AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES');
    assert.ok(Math.abs(Date.parse(event.date_time) - Date.now()) < 60_000);
    assert.match(event.date_time, /Z$/);
  });

  test('filters by event names in any form', async () => {
    const name = await ingestInstance();
    const kinds = ['MESSAGES_UPSERT', 'SEND_MESSAGE', 'MESSAGES_UPDATE', 'PRESENCE_UPDATE', 'GROUP_PARTICIPANTS_UPDATE'];
    await pombo.api('POST', `/events/${name}`, Array.from({ length: 20 }, (_, i) => ({ event: kinds[i % 5], data: { i } })));
    const filtered = await logOf(pombo, name, '&events=messages.upsert,SEND_MESSAGE,group-participants-update');
    assert.equal(filtered.length, 12);
    assert.deepEqual(new Set(filtered.map((e) => e.event)), new Set(['messages.upsert', 'send.message', 'group-participants.update']));
    const paged = await pombo.api('GET', `/events/${name}?events=presence.update&limit=2`);
    assert.equal(paged.body.events.length, 2);
    const rest = await pombo.api('GET', `/events/${name}?events=presence.update&limit=2&after=${paged.body.next}`);
    assert.deepEqual(rest.body.events.map((e: any) => e.data.i), [13, 18]);
    assert.equal(rest.body.next, rest.body.events.at(-1).id);
    const end = await pombo.api('GET', `/events/${name}?events=presence.update&limit=2&after=${rest.body.next}`);
    assert.deepEqual(end.body, { events: [], next: null });
  });
});
