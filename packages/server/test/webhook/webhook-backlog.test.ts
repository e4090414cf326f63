import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { receiverFor } from './http-receiver.ts';
import { emit, FAST_RETRIES, instanceWithWebhook, message } from './webhook-fixtures.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo({
    ...FAST_RETRIES,
    WEBHOOK_RETRY_MAX_ATTEMPTS: '1000',
    WEBHOOK_CIRCUIT_FAILURE_THRESHOLD: '2',
    // No probe during the test: the circuit stays paused, the failed deliveries stay owed.
    WEBHOOK_CIRCUIT_COOLDOWN_SECONDS: '600',
  });
});
after(() => pombo.close());

const find = async (name: string) => (await pombo.api('GET', `/webhook/find/${name}`)).body.state;

/** The value of a destination gauge for the instance, from /metrics fetched with the global key. */
async function gauge(name: string, instanceName: string): Promise<number | undefined> {
  const { status, body } = await pombo.api('GET', '/metrics');
  assert.equal(status, 200);
  const line = (body as string)
    .split('\n')
    .find((row) => row.startsWith(`${name}{`) && row.includes('channel="webhook"') && row.includes(`instance_name="${instanceName}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test("a paused webhook's undelivered events show in find's backlog and retrying and in the lag and retrying gauges", async (t) => {
  const receiver = await receiverFor(t, () => ({ status: 500 }));
  const instance = await instanceWithWebhook(pombo, { url: receiver.url });
  // Four chats: each event is its own lane, sent side by side until the circuit pauses.
  await emit(pombo, instance, ['a', 'b', 'c', 'd'].map((chat) => message(`${chat}@s.whatsapp.net`, chat)));
  await eventually(async () => (await find(instance.name)).health === 'paused', 'the circuit paused');
  // Two more while paused: never sent, they stay past the cursor.
  await emit(pombo, instance, [message('e@s.whatsapp.net', 'e1'), message('e@s.whatsapp.net', 'e2')]);
  const failed = new Set(receiver.requests.map((request) => request.json.id)).size;
  assert.ok(failed >= 2, `at least the threshold's failures (${failed})`);
  // Past their retry delay, the failed deliveries are ready again and held by the circuit: still owed, still retrying.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const state = await eventually(async () => {
    const found = await find(instance.name);
    return found.backlog === 6 && found.retrying === failed && found;
  }, `find showing 6 events owed, ${failed} retrying`).catch(async (error) => {
    assert.fail(`${(error as Error).message}: ${JSON.stringify(await find(instance.name))}`);
  });
  assert.equal(state.health, 'paused');
  assert.equal(await gauge('pombo_destination_lag_events', instance.name), 6);
  assert.equal(await gauge('pombo_destination_retrying', instance.name), failed);
  assert.equal(receiver.accepted().length, 0);
  await pombo.api('POST', `/webhook/set/${instance.name}`, { webhook: { enabled: false } });
});
