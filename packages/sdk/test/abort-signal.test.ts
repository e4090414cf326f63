import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { startPombo, uniqueName } from '../../server/test/helpers/pombo-harness.ts';
import { PomboClient } from '../src/index.ts';

test('a subscription that ends another way removes its listener from the signal: a long-lived signal serves many subscriptions', async () => {
  const pombo = await startPombo();
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning.name);
  process.on('warning', onWarning);
  try {
    const client = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey });
    const name = uniqueName('sdk');
    await client.instances.create({ instanceName: name });
    const shutdown = new AbortController();
    for (let n = 0; n < 12; n++) {
      const sub = await client.events.subscribe({ instanceId: name, subscriber: `s${n}` }, { signal: shutdown.signal });
      assert.equal(getEventListeners(shutdown.signal, 'abort').length, 1);
      await sub.close();
      assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0, `after close ${n + 1}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // the warning is emitted on the next tick
    assert.deepEqual(warnings.filter((warning) => warning === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
    await pombo.close();
  }
});
