import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { withPombo } from './sdk-fixtures.ts';

test('a subscription that ends another way removes its listener from the signal: a long-lived signal serves many subscriptions', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const shutdown = new AbortController();
    for (let n = 0; n < 12; n++) {
      const sub = await client.events.subscribe({ instanceId: name, subscriber: `s${n}` }, { signal: shutdown.signal });
      assert.equal(getEventListeners(shutdown.signal, 'abort').length, 1);
      await sub.close();
      assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0, `after close ${n + 1}`);
    }
  });
});

test('a signal given in the subscribe request (as the realtime SDK contract lists it) closes the subscription when aborted', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const shutdown = new AbortController();
    const sub = await client.events.subscribe({ instanceId: name, signal: shutdown.signal });
    assert.equal(sub.state, 'open');
    shutdown.abort();
    await sub.waitForClose();
    assert.equal(sub.state, 'closed');
    await assert.rejects(client.events.subscribe({ instanceId: name, signal: 'stop' as unknown as AbortSignal }), /subscribe\.signal/);
  });
});
