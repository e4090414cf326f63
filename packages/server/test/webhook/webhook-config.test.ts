import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { EVENT_KEYS } from '../../src/core/event-names.ts';
import { receiverFor, startReceiver } from './http-receiver.ts';
import { secretKey, signatureHeaders } from '../../src/channels/webhook/webhook-signature.ts';
import { emit, instanceWithWebhook, message, settled } from './webhook-fixtures.ts';

const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;

let pombo: Harness;
before(async () => {
  pombo = await startPombo();
});
after(() => pombo.close());

const set = (name: string, webhook: unknown) => pombo.api('POST', `/webhook/set/${name}`, { webhook });

test('set and find use seed 001 bodies; find masks the secret and credential headers and shows the delivery state', async () => {
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const response = await set(instance.name, {
    enabled: true,
    url: 'https://example.com/webhook',
    events: ['MESSAGES_UPSERT', 'messages.update', 'CONNECTION_UPDATE'],
    headers: { Authorization: 'Bearer a-long-secret-token-9876', 'X-Tenant': 'acme' },
    base64: true,
    byEvents: false,
    secret: SECRET,
    ordering: 'chat',
    maxInFlight: 4,
  });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  const found = await pombo.api('GET', `/webhook/find/${instance.name}`);
  assert.equal(found.status, 200);
  const body = found.body;
  assert.equal(body.enabled, true);
  assert.equal(body.url, 'https://example.com/webhook');
  assert.deepEqual(body.events, ['MESSAGES_UPSERT', 'MESSAGES_UPDATE', 'CONNECTION_UPDATE']);
  assert.equal(body.base64, true);
  assert.equal(body.webhookBase64, true);
  assert.equal(body.byEvents, false);
  assert.equal(body.webhookByEvents, false);
  assert.equal(body.ordering, 'chat');
  assert.equal(body.maxInFlight, 4);
  assert.equal(body.secret, `whsec_…${SECRET.slice(-4)}`);
  assert.equal(body.headers.Authorization, 'Bearer …9876');
  assert.equal(body.headers['X-Tenant'], 'acme');
  assert.ok(!JSON.stringify(body).includes('a-long-secret-token'), 'no credential in clear');
  assert.ok(!JSON.stringify(body).includes(SECRET.slice(6, 20)), 'no secret in clear');
  assert.equal(body.state.health, 'healthy');
  assert.equal(body.state.lastError, null);
  assert.equal(typeof body.state.backlog, 'number');
});

test('an empty or missing events list means every event; defaults fill Pombo fields', async () => {
  const instance = await instanceWithWebhook(pombo, { enabled: true, url: 'http://127.0.0.1:9/hook', events: [] });
  const found = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(found.events.length, EVENT_KEYS.length);
  assert.equal(found.ordering, 'none');
  assert.equal(found.secret, null);
  assert.equal(found.maxInFlight, 16);
  await set(instance.name, { enabled: false });
});

test("/instance/create answers Evolution API's webhook and instance fields, masked as find masks them", async () => {
  const name = uniqueName('evowh');
  const token = 'a-long-secret-token-9876';
  const url = `https://user:pa55word@example.com/hook?token=${token}`;
  const headers = { Authorization: `Bearer ${token}`, 'X-Tenant': 'acme' };
  const response = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', webhook: { url, headers, byEvents: true, base64: false, events: [] } });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  const { instance, webhook } = response.body;
  assert.equal(instance.webhookWaBusiness, null, 'Pombo receives no Meta webhook');
  assert.equal(instance.accessTokenWaBusiness, null);
  assert.equal(webhook.webhookUrl, 'https://user:***@example.com/hook?token=***');
  assert.equal(webhook.webhookUrl, webhook.url);
  assert.deepEqual(webhook.webhookHeaders, { Authorization: 'Bearer …9876', 'X-Tenant': 'acme' });
  assert.equal(webhook.webhookByEvents, true);
  assert.equal(webhook.webhookBase64, false);
  assert.ok(!JSON.stringify(response.body).includes(token) && !JSON.stringify(response.body).includes('pa55word'), 'no secret in clear');
  const found = (await pombo.api('GET', `/webhook/find/${name}`)).body;
  assert.equal(found.webhookUrl, webhook.webhookUrl, 'find answers the same names');
  assert.deepEqual(found.webhookHeaders, webhook.webhookHeaders);
});

test('an instance whose webhook was never set finds null, as in Evolution API; a disabled one keeps its fields and state', async () => {
  const name = uniqueName('nowh');
  await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
  const found = await pombo.api('GET', `/webhook/find/${name}`);
  assert.equal(found.status, 200);
  assert.equal(found.body, null, 'the JSON null, not an empty answer');
  await set(name, { enabled: false });
  const disabled = (await pombo.api('GET', `/webhook/find/${name}`)).body;
  assert.equal(disabled.enabled, false);
  assert.equal(disabled.url, null);
  assert.equal(disabled.state.health, 'disabled');
});

test("a settings page's round trip: find's masked values sent back to set keep the stored ones; any other masked value is a 400", async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const url = `${receiver.url}/hook?token=url-token-4321`;
  const instance = await instanceWithWebhook(pombo, { url, headers: { Authorization: 'Bearer token-abcdef', 'X-Api-Key': 'key-0123456789ab' }, secret: SECRET });
  const shown = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(shown.headers.Authorization, 'Bearer …cdef');
  assert.equal(shown.headers['X-Api-Key'], '…89ab');
  assert.match(shown.url, /token=\*\*\*$/);
  // What a settings page that loads and saves posts: find's own fields, as find showed them.
  const { enabled, url: shownUrl, events, headers, byEvents, base64, secret, ordering, maxInFlight } = shown;
  const saved = await set(instance.name, { enabled, url: shownUrl, events, headers, byEvents, base64, secret, ordering, maxInFlight });
  assert.equal(saved.status, 201, JSON.stringify(saved.body));
  assert.deepEqual([saved.body.url, saved.body.headers, saved.body.secret], [shown.url, shown.headers, shown.secret]);
  // The stored values are what is sent: the real header values, the URL's token, a signature with the real secret.
  const [id] = await emit(pombo, instance, [message('5511@s.whatsapp.net', 'round-trip')]);
  const [received] = await eventually(async () => (receiver.requests.length ? receiver.requests : undefined), 'a delivery');
  assert.equal(received?.headers.authorization, 'Bearer token-abcdef');
  assert.equal(received?.headers['x-api-key'], 'key-0123456789ab');
  assert.equal(received?.url, '/hook?token=url-token-4321');
  const signed = signatureHeaders(secretKey(SECRET) as Buffer, id as string, received?.body ?? '', Number(received?.headers['webhook-timestamp']) * 1000);
  assert.equal(received?.headers['webhook-signature'], signed['webhook-signature']);

  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ url, headers: { Authorization: 'Bearer …9999' } }, /^webhook\.headers\.Authorization is masked \(a value as find shows it\) and does not stand for the stored one: send the real value$/],
    [{ url, headers: { 'X-Other-Token': '…89ab' } }, /webhook\.headers\.X-Other-Token is masked .*send the real value/],
    [{ url, secret: 'whsec_…abcd' }, /webhook\.secret is masked .*send the real value/],
    [{ url: `${receiver.url}/other?token=***` }, /webhook\.url is masked .*send the real value/],
  ];
  for (const [webhook, message] of refused) {
    const response = await set(instance.name, webhook);
    assert.equal(response.status, 400, JSON.stringify(webhook));
    assert.match(response.body.response.message[0], message);
  }
  const created = await pombo.api('POST', '/instance/create', { instanceName: uniqueName('masked'), integration: 'INGEST', webhook: { url, headers } });
  assert.equal(created.status, 400, 'a new instance has no stored value a mask stands for');
  assert.match(created.body.response.message[0], /webhook\.headers\.Authorization is masked/);

  // An endpoint's PATCH takes back what its GET shows alike.
  const endpoint = (await pombo.api('POST', `/webhook/endpoints/${instance.name}`, { url, headers: { Authorization: 'Bearer token-abcdef' } })).body;
  const patched = await pombo.api('PATCH', `/webhook/endpoints/${instance.name}/${endpoint.id}`, { url: endpoint.url, headers: endpoint.headers, secret: endpoint.secret });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  const kept = pombo.pombo.context.instances.get(instance.name).channels.webhookEndpoints as Array<{ url: string; headers: Record<string, string> }>;
  assert.deepEqual([kept[0]?.url, kept[0]?.headers], [url, { Authorization: 'Bearer token-abcdef' }]);
});

test('bad webhook configs are a 400 naming the field', async () => {
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const cases: Array<[unknown, RegExp]> = [
    [{ enabled: true }, /webhook\.url is required/],
    [{ url: 'ftp://example.com' }, /webhook\.url must be an absolute http/],
    [{ url: 'not a url' }, /webhook\.url must be an absolute http/],
    [{ url: 'https://example.com', events: ['MESSAGES_UPSERTED'] }, /Unknown event "MESSAGES_UPSERTED"/],
    [{ url: 'https://example.com', events: 'MESSAGES_UPSERT' }, /webhook\.events must be an array/],
    [{ url: 'https://example.com', secret: 'hunter2' }, /webhook\.secret must be a Standard Webhooks secret/],
    [{ url: 'https://example.com', secret: 'whsec_c2hvcnQ=' }, /webhook\.secret must be "whsec_" followed by the base64 of 24 to 64/],
    [{ url: 'https://example.com', secret: `whsec_…${SECRET.slice(-4)}` }, /webhook\.secret is masked/],
    [{ url: 'https://example.com', headers: { 'webhook-signature': 'x' } }, /webhook\.headers\.webhook-signature cannot be configured/],
    [{ url: 'https://example.com', headers: { 'bad header': 'x' } }, /not a valid HTTP header name/],
    [{ url: 'https://example.com', headers: { 'X-A': 'a\r\nInjected: 1' } }, /must not contain line breaks/],
    [{ url: 'https://example.com', headers: { 'X-A': { nested: true } } }, /webhook\.headers\.X-A must be a string/],
    [{ url: 'https://example.com', ordering: 'random' }, /webhook\.ordering must be one of none, instance, chat/],
    [{ url: 'https://example.com', maxInFlight: 0 }, /webhook\.maxInFlight must be an integer between 1 and 1024/],
    [{ url: 'https://example.com', base64: 'yes' }, /webhook\.base64 must be true or false/],
    ['https://example.com', /webhook must be a JSON object/],
  ];
  for (const [webhook, message] of cases) {
    const response = await set(instance.name, webhook);
    assert.equal(response.status, 400, `${JSON.stringify(webhook)} → ${response.status}`);
    assert.match(response.body.response.message[0], message, JSON.stringify(webhook));
  }
  const unchanged = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(unchanged.enabled, false, 'a rejected set changes nothing');
});

test('/instance/create validates the nested webhook with the same rules', async () => {
  const name = uniqueName('badcreate');
  const response = await pombo.api('POST', '/instance/create', { instanceName: name, webhook: { url: 'nope' } });
  assert.equal(response.status, 400);
  assert.match(response.body.response.message[0], /webhook\.url/);
  const found = await pombo.api('GET', `/webhook/find/${name}`);
  assert.equal(found.status, 404, 'nothing was created');
});

test('an instance token may set and find only its own webhook', async () => {
  const mine = uniqueName('mine');
  const other = uniqueName('other');
  const token = (await pombo.api('POST', '/instance/create', { instanceName: mine, integration: 'INGEST' })).body.hash;
  await pombo.api('POST', '/instance/create', { instanceName: other, integration: 'INGEST' });
  assert.equal((await pombo.api('POST', `/webhook/set/${mine}`, { webhook: { url: 'https://example.com' } }, token)).status, 201);
  assert.equal((await pombo.api('GET', `/webhook/find/${other}`, undefined, token)).status, 403);
  assert.equal((await pombo.api('GET', `/webhook/deliveries/${other}`, undefined, token)).status, 403);
  assert.equal((await pombo.api('POST', `/webhook/replay/${other}`, { status: 'failed' }, token)).status, 403);
  assert.equal((await pombo.api('GET', `/webhook/find/${mine}`, undefined, null)).status, 401);
  await pombo.api('POST', `/webhook/set/${mine}`, { webhook: { enabled: false } });
});

test('a webhook disabled with /webhook/set sends nothing stored while it was off once set enabled again, as Evolution API; a replay still can', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, events: ['MESSAGES_UPSERT'] });
  const [before] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'before')]);
  await eventually(() => receiver.deliveredIds().includes(before as string), 'the event sent before the pause');

  await set(instance.name, { enabled: false, url: receiver.url, events: ['MESSAGES_UPSERT'] });
  const whileOff = await emit(pombo, instance, [message('a@s.whatsapp.net', 'off 1'), message('a@s.whatsapp.net', 'off 2')]);
  assert.equal((await set(instance.name, { enabled: true, url: receiver.url, events: ['MESSAGES_UPSERT'] })).status, 201);
  // Set again while enabled (a change of headers): the pause still holds.
  await set(instance.name, { enabled: true, url: receiver.url, events: ['MESSAGES_UPSERT'], headers: { 'X-Tenant': 'acme' } });
  const [afterwards] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'after')]);
  await eventually(() => receiver.deliveredIds().includes(afterwards as string), 'the event sent after enabling it again');
  await settled(pombo, instance);
  assert.deepEqual(receiver.deliveredIds(), [before, afterwards], 'nothing stored while it was off was sent');
  // The cursor past the skipped events is saved by the ledger's next commit, a moment after the worker is idle.
  await eventually(async () => (await pombo.api('GET', `/webhook/find/${instance.name}`)).body.state.backlog === 0, 'no backlog: the paused events are not owed');

  // find shows when it was off, for a time-range replay of what it skipped.
  const { lastPause } = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.ok(lastPause.from <= lastPause.to, JSON.stringify(lastPause));
  assert.equal((await pombo.api('POST', `/webhook/replay/${instance.name}`, { ids: whileOff })).status, 202);
  await eventually(() => receiver.deliveredIds().length === 4, 'the replay of the paused events');
  assert.equal((await pombo.api('POST', `/webhook/replay/${instance.name}`, lastPause)).status, 202);
  await eventually(() => receiver.deliveredIds().length === 6, 'the replay of the pause by its times');
  assert.deepEqual(receiver.deliveredIds().slice(4).sort(), [...whileOff].sort(), 'the time range held the paused events only');
  await set(instance.name, { enabled: false });

  // Created disabled (/instance/create), then enabled: the same.
  const created = await instanceWithWebhook(pombo, { enabled: false, url: receiver.url });
  await emit(pombo, created, [message('b@s.whatsapp.net', 'created off')]);
  await set(created.name, { enabled: true, url: receiver.url });
  const [first] = await emit(pombo, created, [message('b@s.whatsapp.net', 'on')]);
  await eventually(() => receiver.deliveredIds().includes(first as string), 'the first event after enabling it');
  await settled(pombo, created);
  assert.deepEqual(receiver.deliveredIds().slice(6), [first]);
  await set(created.name, { enabled: false });
});

test('a webhook disabled and enabled again twice keeps both pauses: find shows each, and each replays what it skipped', async (t) => {
  const receiver = await receiverFor(t);
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, events: ['MESSAGES_UPSERT'] });
  const webhook = { url: receiver.url, events: ['MESSAGES_UPSERT'] };
  const pause = async (text: string) => {
    assert.equal((await set(instance.name, { ...webhook, enabled: false })).status, 201);
    const skipped = await emit(pombo, instance, [message('a@s.whatsapp.net', text)]);
    assert.equal((await set(instance.name, { ...webhook, enabled: true })).status, 201);
    return skipped;
  };
  const first = await pause('off 1');
  const second = await pause('off 2');
  const [on] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'on')]);
  await eventually(() => receiver.deliveredIds().includes(on as string), 'the event sent after the pauses');
  await settled(pombo, instance);
  assert.deepEqual(receiver.deliveredIds(), [on], 'nothing stored during either pause was sent');

  const { pauses, lastPause } = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(pauses.length, 2, JSON.stringify(pauses));
  assert.deepEqual(lastPause, pauses[0], 'lastPause is the newest');
  for (const [window, skipped] of [[pauses[1], first], [pauses[0], second]] as const) {
    const before = receiver.deliveredIds().length;
    assert.equal((await pombo.api('POST', `/webhook/replay/${instance.name}`, window)).status, 202);
    await eventually(() => receiver.deliveredIds().length === before + 1, 'the replay of one pause by its times');
    assert.deepEqual(receiver.deliveredIds().slice(before), skipped, `the pause ${JSON.stringify(window)} held its own event only`);
  }
  await set(instance.name, { enabled: false });
});

test('{"enabled": false} alone turns the webhook off and keeps what it was set to: POST /webhook/enable turns it on again and sends what was stored meanwhile', async (t) => {
  const receiver = await receiverFor(t);
  const webhook = { url: receiver.url, events: ['MESSAGES_UPSERT'], secret: SECRET, headers: { 'X-Tenant': 'acme' } };
  const instance = await instanceWithWebhook(pombo, webhook);
  assert.equal((await set(instance.name, { enabled: false })).status, 201);
  const off = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(off.enabled, false);
  assert.equal(new URL(off.url).href, new URL(receiver.url).href, 'the URL is kept');
  assert.deepEqual(off.events, ['MESSAGES_UPSERT'], 'and its events');
  assert.ok(off.secret, 'and its secret (masked)');
  const whileOff = await emit(pombo, instance, [message('a@s.whatsapp.net', 'off')]);

  const enabled = await pombo.api('POST', `/webhook/enable/${instance.name}`);
  assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
  await eventually(() => receiver.deliveredIds().includes(whileOff[0] as string), 'the event stored while it was off');
  const request = receiver.accepted()[0];
  assert.equal(request?.headers['x-tenant'], 'acme', 'sent with its headers');
  assert.ok(request?.headers['webhook-signature'], 'and signed with its secret');

  // With a url, set replaces the whole configuration, as in Evolution API.
  assert.equal((await set(instance.name, { enabled: false, url: receiver.url })).status, 201);
  const replaced = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(replaced.secret, null, 'a set with a url and no secret stops signing');
  await set(instance.name, { enabled: false });
});

test('a webhook still behind its first pause when it is paused again skips both: the earlier pause is not forgotten', async (t) => {
  // One request at a time (ordering: instance), and the first one held: the webhook stays behind
  // everything stored after it while it is disabled and enabled again twice.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const receiver = await receiverFor(t, async () => {
    await held;
    return { status: 200 };
  });
  const webhook = { url: receiver.url, events: ['MESSAGES_UPSERT'], ordering: 'instance' };
  const instance = await instanceWithWebhook(pombo, webhook);
  const [first] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'before')]);
  await eventually(() => receiver.requests.length >= 1, 'the first event in flight, held');
  const skipped: string[] = [];
  for (const text of ['off 1', 'off 2']) {
    assert.equal((await set(instance.name, { ...webhook, enabled: false })).status, 201);
    skipped.push(...(await emit(pombo, instance, [message('a@s.whatsapp.net', text)])));
    assert.equal((await set(instance.name, { ...webhook, enabled: true })).status, 201);
  }
  const [on] = await emit(pombo, instance, [message('a@s.whatsapp.net', 'on')]);
  release();
  await eventually(() => receiver.deliveredIds().includes(on as string), 'the event sent after the pauses');
  await settled(pombo, instance);
  const sent = receiver.requests.map((request) => request.json?.id);
  assert.deepEqual([...new Set(receiver.deliveredIds())], [first, on], 'the first event, then the one after the pauses');
  assert.deepEqual(sent.filter((id) => skipped.includes(id as string)), [], 'nothing stored during either pause was sent');
  await set(instance.name, { enabled: false });
});

test("the events a paused webhook skips are those the log stored while it was off, whatever the clock of the node that set it says", async (t) => {
  const receiver = await receiverFor(t);
  const webhook = { url: receiver.url, events: ['MESSAGES_UPSERT'] };
  // The node answering /webhook/set runs a minute ahead of the one storing events: cluster nodes' clocks
  // differ, and a store keeps event times monotonic past a clock stepped back.
  const realNow = Date.now;
  const setAhead = async (name: string, enabled: boolean) => {
    const ahead = t.mock.method(Date, 'now', () => realNow() + 60_000);
    try {
      assert.equal((await set(name, { ...webhook, enabled })).status, 201);
    } finally {
      ahead.mock.restore();
    }
  };

  // Disabled there: the event stored while it was off is still skipped once enabled.
  const first = await instanceWithWebhook(pombo, webhook);
  await setAhead(first.name, false);
  await emit(pombo, first, [message('a@s.whatsapp.net', 'off')]);
  await set(first.name, { ...webhook, enabled: true });
  const [sent] = await emit(pombo, first, [message('a@s.whatsapp.net', 'after')]);
  await eventually(() => receiver.deliveredIds().includes(sent as string), 'the event stored after it was enabled');
  await settled(pombo, first);
  assert.deepEqual(receiver.deliveredIds(), [sent], 'the event stored while it was off was skipped');

  // Enabled there: the event stored after it was enabled is sent, not taken for one stored while it was off.
  const second = await instanceWithWebhook(pombo, webhook);
  await set(second.name, { ...webhook, enabled: false });
  await emit(pombo, second, [message('b@s.whatsapp.net', 'off')]);
  await setAhead(second.name, true);
  const [afterwards] = await emit(pombo, second, [message('b@s.whatsapp.net', 'after')]);
  await eventually(() => receiver.deliveredIds().includes(afterwards as string), 'the event stored after it was enabled');
  await settled(pombo, second);
  assert.deepEqual(receiver.deliveredIds(), [sent, afterwards]);
  await set(first.name, { enabled: false });
  await set(second.name, { enabled: false });
});

test('a webhook or an endpoint set on an instance with stored events answers a backlog of 0: it starts with what comes next', async () => {
  const instance = await instanceWithWebhook(pombo, { enabled: false, url: 'http://127.0.0.1:9/hook' }, 'wh-new');
  await emit(pombo, instance, Array.from({ length: 40 }, (_, n) => message('5511900000001@s.whatsapp.net', `stored-${n}`)));
  // The answer is built as the new destination starts: before it read its cursor, it counted all 40 (and the log before them).
  const set = await pombo.api('POST', `/webhook/set/${instance.name}`, { webhook: { enabled: true, url: 'http://127.0.0.1:9/other' } });
  assert.equal(set.status, 201, JSON.stringify(set.body));
  assert.equal(set.body.state.backlog, 0);
  const endpoint = await pombo.api('POST', `/webhook/endpoints/${instance.name}`, { url: 'http://127.0.0.1:9/crm' });
  assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
  assert.equal(endpoint.body.state.backlog, 0);
});
