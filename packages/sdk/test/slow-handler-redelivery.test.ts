import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../../server/test/helpers/pombo-harness.ts';
import { withPombo } from './sdk-fixtures.ts';

interface SubscriberView {
  subscriber: string;
  backlog: number;
  deadLettered: number;
}

test('events the server resends while a slow handler still has them queued or running are handled once, and none is dead-lettered', async () => {
  // Every unacknowledged event comes again each 200 ms; the handler takes 100 ms an event, so the
  // last of 12 waits 1.2 s in the queue: six sends, below REALTIME_MAX_DELIVER's 10 unless the copies pile up.
  await withPombo({ REALTIME_ACK_WAIT_MS: '200' }, async (_pombo, client, name) => {
    await using sub = await client.events.subscribe({ instanceId: name, subscriber: 'slow' });
    const calls = new Map<string, number>();
    sub.on('Message', async (event) => {
      calls.set(event.id, (calls.get(event.id) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
    });
    const published = await client.events.publish(name, Array.from({ length: 12 }, (_, n) => ({ event: 'MESSAGES_UPSERT', data: { key: { id: `m${n}` } } })));
    const ids = published.events.map((event) => event.id);
    const view = async (): Promise<SubscriberView | undefined> =>
      ((await client.realtime.find(name)) as { subscribers: SubscriberView[] }).subscribers.find((entry) => entry.subscriber === 'slow');
    await eventually(async () => (await view())?.backlog === 0, 'every event acknowledged or dead-lettered');
    await new Promise((resolve) => setTimeout(resolve, 500)); // copies still queued would run now
    assert.deepEqual([...calls.keys()], ids, 'each event, in order');
    assert.deepEqual([...calls.values()].filter((count) => count > 1), [], 'no event handled twice');
    assert.equal((await view())?.deadLettered, 0);
  });
});
