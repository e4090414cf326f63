import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, withPombo } from '../helpers/pombo-harness.ts';
import { receiverFor } from './http-receiver.ts';
import { emit, FAST_RETRIES, instanceWithWebhook, message, settled } from './webhook-fixtures.ts';

test('WEBHOOK_DELIVERY_LOG=failures keeps the records of dead letters only: every event still arrives, and a retried one once delivered leaves none', async (t) => {
  const answered = new Map<string, number>();
  const receiver = await receiverFor(t, (request) => {
    const text: string = request.json.data?.message?.conversation ?? '';
    const count = (answered.get(request.json.id) ?? 0) + 1;
    answered.set(request.json.id, count);
    if (request.json.event === 'connection.update') return { status: 400 }; // not retryable: a dead letter
    return { status: text === 'flaky' && count === 1 ? 500 : 200 };
  });
  await withPombo({ ...FAST_RETRIES, WEBHOOK_DELIVERY_LOG: 'failures' }, async (pombo) => {
    const instance = await instanceWithWebhook(pombo, { url: receiver.url });
    const [first, flaky, third, dead] = await emit(pombo, instance, [
      message('a@s.whatsapp.net', 'one'),
      message('a@s.whatsapp.net', 'flaky'),
      message('a@s.whatsapp.net', 'three'),
      { event: 'CONNECTION_UPDATE', data: { state: 'open' } },
    ]);
    await eventually(() => receiver.deliveredIds().length === 3 && answered.get(dead as string) === 1, 'three delivered, one refused');
    await settled(pombo, instance);
    assert.deepEqual(new Set(receiver.deliveredIds()), new Set([first, flaky, third]));
    assert.equal(answered.get(flaky as string), 2, 'the flaky one was retried');
    const log = await eventually(async () => {
      const { body } = await pombo.api('GET', `/webhook/deliveries/${instance.name}`);
      return body.deliveries.length ? (body.deliveries as Array<{ id: string; status: string }>) : undefined;
    }, 'the dead letter recorded');
    assert.deepEqual(log.map(({ id, status }) => [id, status]), [[dead, 'failed']]);
    assert.deepEqual((await pombo.api('GET', `/webhook/deliveries/${instance.name}?status=delivered`)).body.deliveries, []);
  });
});
