import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PomboClient, PomboOptionError } from '../src/index.ts';
import { withPombo } from './sdk-fixtures.ts';

test('timeoutMs: Infinity, or more than a timer can hold, is no limit (not a timeout after 1 ms); a wrong per-call timeoutMs is refused like the client option', async () => {
  await withPombo({}, async (pombo, client, name) => {
    for (const timeoutMs of [Number.POSITIVE_INFINITY, 2 ** 32]) {
      assert.equal((await client.instances.connectionState(name, { timeoutMs })).instance.instanceName, name, `per call: ${timeoutMs}`);
      const unlimited = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey, timeoutMs });
      assert.equal((await unlimited.instances.connectionState(name)).instance.instanceName, name, `client: ${timeoutMs}`);
    }
    for (const timeoutMs of [-1, Number.NaN, '5000']) {
      await assert.rejects(
        client.instances.connectionState(name, { timeoutMs } as never),
        (error: unknown) => error instanceof PomboOptionError && error.option === 'call.timeoutMs',
        String(timeoutMs),
      );
    }
  });
});
