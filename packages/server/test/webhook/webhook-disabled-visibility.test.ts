import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { receiverFor } from './http-receiver.ts';
import { emit, FAST_RETRIES, instanceWithWebhook, message } from './webhook-fixtures.ts';
import { managerCookie } from '../helpers/manager-session.ts';

const form = 'application/x-www-form-urlencoded';

/** A port nothing listens on: every connection to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}


async function fragment(pombo: Harness, cookie: string, name: string): Promise<string> {
  const response = await fetch(`${pombo.url}/manager/fragments/${name}`, { headers: { cookie } });
  assert.equal(response.status, 200);
  return response.text();
}

/** The value of `pombo_<metric>{channel="webhook",instance_name="<name>"}`; undefined when the series is absent. */
async function webhookGauge(pombo: Harness, metric: string, name: string): Promise<number | undefined> {
  const { body } = await pombo.api('GET', '/metrics');
  const line = (body as string).split('\n').find((candidate) => candidate.startsWith(`pombo_${metric}{channel="webhook",instance_name="${name}"}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** The delivery records of a webhook with this status. */
async function recorded(pombo: Harness, name: string, status: string, endpoint?: string): Promise<number> {
  const query = `status=${status}&limit=1000${endpoint ? `&endpoint=${endpoint}` : ''}`;
  return (await pombo.api('GET', `/webhook/deliveries/${name}?${query}`)).body.deliveries.length;
}

test('a webhook disabled after failing keeps its backlog, its dead letters and its lag series in find, the manager and /metrics', async (t) => {
  const pombo = await startPombo({
    ...FAST_RETRIES,
    WEBHOOK_RETRY_MAX_ATTEMPTS: '2',
    WEBHOOK_CIRCUIT_FAILURE_THRESHOLD: '1000',
    WEBHOOK_DISABLE_AFTER_FAILURES: '6',
  });
  t.after(() => pombo.close());
  const instance = await instanceWithWebhook(pombo, { url: `http://127.0.0.1:${await closedPort()}/hook` });
  await emit(pombo, instance, [1, 2, 3, 4].map((n) => message('a@s.whatsapp.net', `before-${n}`)));
  await eventually(async () => (await pombo.api('GET', `/webhook/find/${instance.name}`)).body.enabled === false, 'disabled after six failures');
  // Four first attempts and two second ones, give or take: some dead letters, maybe a pending retry.
  const deadLetters = await eventually(() => recorded(pombo, instance.name, 'failed'), 'dead letters recorded while failing');
  const later = await emit(pombo, instance, [1, 2, 3].map((n) => message('a@s.whatsapp.net', `later-${n}`)));
  assert.equal(later.length, 3);

  const { state } = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(state.health, 'disabled');
  assert.equal(state.failed, deadLetters, 'its dead letters as recorded');
  assert.equal(state.retrying, await recorded(pombo, instance.name, 'pending'), 'its retries recorded as pending');
  // The four events before are each a dead letter or a pending retry (or past the cursor); the three after wait past the cursor.
  assert.ok(state.backlog >= 3 + state.retrying, `backlog ${state.backlog}: the events appended since, and the pending retries`);

  const lag = await webhookGauge(pombo, 'destination_lag_events', instance.name);
  assert.equal(lag, state.backlog, 'the lag series stays, with what the webhook owes');
  assert.equal(await webhookGauge(pombo, 'destination_retrying', instance.name), state.retrying);

  const cookie = await managerCookie(pombo);
  const destination = `webhook:${instance.id}`;
  const destinations = await fragment(pombo, cookie, 'destinations');
  const row = new RegExp(`<tr data-destination="${destination}">[\\s\\S]*?</tr>`).exec(destinations)?.[0];
  assert.ok(row, 'the disabled webhook is listed among the destinations');
  assert.match(row, /class="state-disabled">disabled</);
  assert.match(row, new RegExp(`data-field="lag">${state.backlog}<`));
  assert.match(row, new RegExp(`data-field="dead">${deadLetters}<`));

  const letters = await fragment(pombo, cookie, 'dead-letters');
  assert.doesNotMatch(letters, /No dead letters/);
  assert.match(letters, new RegExp(`<tbody data-destination="${destination}">`));
  assert.match(letters, /disabled: enable it to replay/);
  assert.doesNotMatch(letters, new RegExp(`name="destination" value="${destination}"`), 'no replay button: a disabled webhook is sent nothing');
  const replay = await fetch(`${pombo.url}/manager/dead-letters/replay`, {
    method: 'POST',
    headers: { cookie, origin: pombo.url, 'content-type': form },
    body: new URLSearchParams({ destination }).toString(),
  });
  assert.equal(replay.status, 200);
  assert.match(await replay.text(), /is disabled: enable it first/);
});

test('a webhook or an endpoint the user disables shows what waits for it (its instance\'s events), and resuming it delivers that and clears it', async (t) => {
  const pombo = await startPombo(FAST_RETRIES);
  t.after(() => pombo.close());
  const receiver = await receiverFor(t);
  const webhook = { url: `${receiver.url}/default`, events: ['MESSAGES_UPSERT'] };
  const instance = await instanceWithWebhook(pombo, webhook);
  const endpoint = (await pombo.api('POST', `/webhook/endpoints/${instance.name}`, { url: `${receiver.url}/crm`, events: ['MESSAGES_UPSERT'] })).body;
  await emit(pombo, instance, [message('a@s.whatsapp.net', 'first')]);
  await eventually(() => receiver.accepted().length === 2, 'the first event at both');

  assert.equal((await pombo.api('POST', `/webhook/set/${instance.name}`, { webhook: { ...webhook, enabled: false } })).status, 201);
  assert.equal((await pombo.api('PATCH', `/webhook/endpoints/${instance.name}/${endpoint.id}`, { enabled: false })).status, 200);
  const waiting = await emit(pombo, instance, [1, 2, 3].map((n) => message('a@s.whatsapp.net', `waiting-${n}`)));
  // Another instance's events are not the webhook's: they are not owed.
  const other = await instanceWithWebhook(pombo, { enabled: false }, 'other');
  await emit(pombo, other, [1, 2].map((n) => message('b@s.whatsapp.net', `other-${n}`)));

  const found = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(found.enabled, false);
  assert.equal(found.state.health, 'disabled');
  assert.equal(found.state.backlog, 3, 'the events appended since it was disabled');
  const shown = (await pombo.api('GET', `/webhook/endpoints/${instance.name}/${endpoint.id}`)).body;
  assert.equal(shown.state.health, 'disabled');
  assert.equal(shown.state.backlog, 3);
  assert.equal((await pombo.api('GET', `/webhook/endpoints/${instance.name}`)).body.endpoints[0].state.backlog, 3, 'in the list too');
  assert.equal(await webhookGauge(pombo, 'destination_lag_events', instance.name), 3);
  const destinations = await fragment(pombo, await managerCookie(pombo), 'destinations');
  assert.match(destinations, new RegExp(`<tr data-destination="webhook:${instance.id}">`));
  assert.match(destinations, new RegExp(`<tr data-destination="webhook:${instance.id}:${endpoint.id}">`));

  // Resumed where they stopped (enabled with `set` or PATCH they would skip what was stored while off).
  assert.equal((await pombo.api('POST', `/webhook/enable/${instance.name}`)).status, 200);
  assert.equal((await pombo.api('POST', `/webhook/enable/${instance.name}?endpoint=${endpoint.id}`)).status, 200);
  await eventually(() => receiver.accepted().length === 8, 'the waiting events at both once enabled');
  const ids = (path: string) => receiver.accepted().filter((request) => request.url === path).map((request) => request.json.data.key.id);
  const expected = ['MSG-first', 'MSG-waiting-1', 'MSG-waiting-2', 'MSG-waiting-3'];
  assert.deepEqual(ids('/default').sort(), expected);
  assert.deepEqual(ids('/crm').sort(), expected);
  assert.equal(waiting.length, 3);
  await eventually(async () => (await pombo.api('GET', `/webhook/find/${instance.name}`)).body.state.backlog === 0, 'nothing owed');
  await eventually(async () => (await webhookGauge(pombo, 'destination_lag_events', instance.name)) === 0, 'the lag back to 0');
});
