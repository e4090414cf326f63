import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureStreaks } from '../../src/channels/webhook/webhook-auto-disable.ts';
import { delivered, dead, retry } from '../../src/delivery/outcome.ts';
import { eventually, startPombo } from '../helpers/pombo-harness.ts';
import { receiverFor } from './http-receiver.ts';
import { emit, FAST_RETRIES, instanceWithWebhook, message } from './webhook-fixtures.ts';

test('a streak trips once, on the failure count or on the time failing; a delivery ends it', () => {
  const byCount = new FailureStreaks({ afterFailures: 3, afterMs: 0 });
  assert.equal(byCount.record('w', retry('HTTP 500'), 0), undefined);
  assert.equal(byCount.record('w', dead('HTTP 404'), 1), undefined);
  assert.equal(byCount.record('w', retry('HTTP 500'), 2)?.failures, 3, 'the third failure trips it');
  assert.equal(byCount.record('w', retry('HTTP 500'), 3), undefined, 'only once');
  byCount.resume('w', 'https://a.example/hook');
  assert.equal(byCount.record('w', retry('HTTP 500'), 4), undefined, 'enabled again: a new streak');
  assert.equal(byCount.record('w', delivered(), 5), undefined);
  assert.equal(byCount.record('w', retry('HTTP 500'), 6), undefined);
  assert.equal(byCount.record('w', retry('HTTP 500'), 7), undefined, 'a delivery started it over');

  // Two failures of three at one URL; the webhook is set to another: its failures start from none.
  const moved = new FailureStreaks({ afterFailures: 3, afterMs: 0 });
  moved.resume('w', 'https://old.example/hook');
  moved.record('w', retry('HTTP 500'), 0);
  moved.record('w', retry('HTTP 500'), 1);
  moved.resume('w', 'https://old.example/hook');
  assert.equal(moved.record('w', retry('HTTP 500'), 2)?.failures, 3, 'the same URL (its instance changed otherwise): the streak goes on');
  const fixed = new FailureStreaks({ afterFailures: 3, afterMs: 0 });
  fixed.resume('w', 'https://old.example/hook');
  fixed.record('w', retry('HTTP 500'), 0);
  fixed.record('w', retry('HTTP 500'), 1);
  fixed.resume('w', 'https://new.example/hook');
  assert.equal(fixed.record('w', retry('HTTP 500'), 2), undefined, "the new URL's first failure is its first");
  assert.equal(fixed.record('w', retry('HTTP 500'), 3), undefined);
  assert.equal(fixed.record('w', retry('HTTP 500'), 4)?.failures, 3);

  const byTime = new FailureStreaks({ afterFailures: 0, afterMs: 1000 });
  assert.equal(byTime.record('w', retry('timeout'), 10_000), undefined);
  assert.equal(byTime.record('w', retry('timeout'), 10_999), undefined);
  const tripped = byTime.record('w', retry('timeout'), 11_000);
  assert.equal(tripped?.since, 10_000);
  assert.equal(tripped?.lastError, 'timeout');
});

test("forgetting a deleted instance's webhooks ends their streaks, not another instance's", () => {
  const streaks = new FailureStreaks({ afterFailures: 2, afterMs: 0 });
  for (const destination of ['webhook:a', 'webhook:a:e1', 'webhook:ab']) {
    streaks.resume(destination, 'https://a.example/hook');
    streaks.record(destination, retry('HTTP 500'), 0);
  }
  streaks.forgetAll('webhook:a');
  assert.equal(streaks.record('webhook:a', retry('HTTP 500'), 1), undefined, "the instance's webhook starts from none");
  assert.equal(streaks.record('webhook:a:e1', retry('HTTP 500'), 1), undefined, 'its endpoints too');
  assert.equal(streaks.record('webhook:ab', retry('HTTP 500'), 1)?.failures, 2, "another instance's streak goes on");
});

test('an endpoint failing WEBHOOK_DISABLE_AFTER_FAILURES times is disabled, WEBHOOK_DISABLED reaches the global webhook, and enabling it again delivers every event', async (t) => {
  const operator = await receiverFor(t);
  let recovered = false;
  const receiver = await receiverFor(t, () => ({ status: recovered ? 200 : 500 }));
  const pombo = await startPombo({
    ...FAST_RETRIES,
    WEBHOOK_RETRY_MAX_ATTEMPTS: '2',
    WEBHOOK_CIRCUIT_FAILURE_THRESHOLD: '1000',
    WEBHOOK_DISABLE_AFTER_FAILURES: '6',
    WEBHOOK_GLOBAL_ENABLED: 'true',
    WEBHOOK_GLOBAL_URL: operator.url,
    WEBHOOK_EVENTS_WEBHOOK_DISABLED: 'true',
  });
  t.after(() => pombo.close());
  const instance = await instanceWithWebhook(pombo, { enabled: false });
  const endpoint = (await pombo.api('POST', `/webhook/endpoints/${instance.name}`, { url: `${receiver.url}/crm`, events: ['MESSAGES_UPSERT'] })).body;
  const before = await emit(pombo, instance, [1, 2, 3].map((n) => message('a@s.whatsapp.net', `before-${n}`)));

  const alert = await eventually(() => operator.requests.find((request) => request.json?.event === 'webhook.disabled'), 'WEBHOOK_DISABLED at the global webhook');
  assert.equal(alert.json.instance, instance.name);
  assert.equal(alert.json.data.endpointId, endpoint.id);
  assert.equal(alert.json.data.url, `${receiver.url}/crm`);
  assert.equal(alert.json.data.consecutiveFailures, 6);
  assert.match(alert.json.data.reason, /^6 consecutive failed attempts \(WEBHOOK_DISABLE_AFTER_FAILURES=6\); last: HTTP 500$/);
  const shown = (await pombo.api('GET', `/webhook/endpoints/${instance.name}/${endpoint.id}`)).body;
  assert.equal(shown.enabled, false);
  assert.equal(shown.disabledReason, alert.json.data.reason);
  assert.equal(shown.state.health, 'disabled');
  await eventually(async () => (await pombo.api('GET', `/webhook/deliveries/${instance.name}?endpoint=${endpoint.id}&status=failed`)).body.deliveries.length >= 1, 'a dead letter while failing');

  const attempts = receiver.requests.length;
  const during = await emit(pombo, instance, [1, 2].map((n) => message('a@s.whatsapp.net', `during-${n}`)));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(receiver.requests.length, attempts, 'a disabled endpoint is sent nothing');

  recovered = true;
  const enabled = await pombo.api('PATCH', `/webhook/endpoints/${instance.name}/${endpoint.id}`, { enabled: true });
  assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
  assert.equal(enabled.body.enabled, true);
  assert.equal(enabled.body.disabledReason, null);
  await eventually(() => [...before, ...during].every((id) => receiver.deliveredIds().includes(id)), 'every event, the dead-lettered ones included, after the recovery');
  await eventually(async () => (await pombo.api('GET', `/webhook/endpoints/${instance.name}/${endpoint.id}`)).body.state.backlog === 0, 'nothing left behind');
});

test('the default webhook failing for WEBHOOK_DISABLE_AFTER_HOURS is disabled; POST /webhook/enable resumes it where it stopped', async (t) => {
  let recovered = false;
  const receiver = await receiverFor(t, () => ({ status: recovered ? 200 : 503 }));
  const pombo = await startPombo({
    ...FAST_RETRIES,
    WEBHOOK_RETRY_MAX_ATTEMPTS: '1000',
    WEBHOOK_CIRCUIT_FAILURE_THRESHOLD: '1000',
    WEBHOOK_DISABLE_AFTER_FAILURES: '0',
    WEBHOOK_DISABLE_AFTER_HOURS: '0.0003',
  });
  t.after(() => pombo.close());
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, ordering: 'instance', events: ['MESSAGES_UPSERT'] });
  const first = await emit(pombo, instance, [message('b@s.whatsapp.net', 'first'), message('b@s.whatsapp.net', 'second')]);
  const found = await eventually(async () => {
    const body = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
    return body.enabled === false && body;
  }, 'the default webhook disabled after about a second of failures');
  assert.match(found.disabledReason, /^failing for [\d.]+ hours \(WEBHOOK_DISABLE_AFTER_HOURS=0\.0003\); last: HTTP 503$/);
  assert.ok(found.failingSince);
  const later = await emit(pombo, instance, [message('b@s.whatsapp.net', 'third')]);
  recovered = true;
  const enabled = await pombo.api('POST', `/webhook/enable/${instance.name}`);
  assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
  assert.deepEqual(enabled.body, { endpoint: null, enabled: true, replayed: 0 });
  await eventually(() => receiver.accepted().length === 3, 'the three events');
  assert.deepEqual(receiver.deliveredIds(), [...first, ...later], 'in order, from where it stopped');
  const after = (await pombo.api('GET', `/webhook/find/${instance.name}`)).body;
  assert.equal(after.enabled, true);
  assert.equal(after.disabledAt, null);
  const none = await pombo.api('POST', `/webhook/enable/${instance.name}?endpoint=ep_nope`);
  assert.equal(none.status, 404);
});

test('enabling a webhook disabled for its failures replays every dead letter of the failing streak, the first one too', async (t) => {
  const pombo = await startPombo({ ...FAST_RETRIES, WEBHOOK_DISABLE_AFTER_FAILURES: '3', WEBHOOK_MAX_IN_FLIGHT: '1' });
  t.after(() => pombo.close());
  let status = 401;
  // Each answer takes a little while: the first failing attempt starts well before its answer comes.
  const receiver = await receiverFor(t, async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { status };
  });
  const instance = await instanceWithWebhook(pombo, { url: receiver.url, ordering: 'instance' });
  const ids = await emit(pombo, instance, ['1', '2', '3'].map((id) => message('a@s.whatsapp.net', id)));
  await eventually(async () => (await pombo.api('GET', `/webhook/find/${instance.name}`)).body.disabledAt, 'disabled');
  status = 200;
  const enabled = await pombo.api('POST', `/webhook/enable/${instance.name}`);
  assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
  // Replayed as dead letters, or (one whose record the stop was still writing) read again past the cursor: each arrives.
  await eventually(() => ids.every((id) => receiver.deliveredIds().includes(id)), 'all three delivered', 5000);
});
