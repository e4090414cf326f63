import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PomboOptionError } from '../src/index.ts';
import { publish, withPombo } from './sdk-fixtures.ts';

test('maxRetries and concurrency take Infinity (no limit), as they did before options were checked; other numbers still refuse it', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    await using sub = await client.events.subscribe({ instanceId: name, maxRetries: Number.POSITIVE_INFINITY, concurrency: Infinity });
    const received = new Promise<string>((resolve) => sub.on('Message', (evt) => void resolve(evt.id)));
    const [id] = await publish(client, name, 1);
    assert.equal(await received, id);
    for (const option of ['retryDelayMs', 'pingIntervalMs', 'dedupe']) {
      await assert.rejects(client.events.subscribe({ instanceId: name, [option]: Infinity }), (error: unknown) => error instanceof PomboOptionError && error.option === `subscribe.${option}`, option);
    }
    await assert.rejects(client.events.subscribe({ instanceId: name, maxRetries: -Infinity }), /subscribe\.maxRetries: expected an integer ≥ 0 or Infinity/);
  });
});
