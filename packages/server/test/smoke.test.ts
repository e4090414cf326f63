import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName } from './helpers/pombo-harness.ts';

test('a sandbox instance is created, connected and reports its state', async () => {
  const pombo = await startPombo();
  try {
    const name = uniqueName('smoke');
    await pombo.sandbox(name);
    const state = await pombo.api('GET', `/instance/connectionState/${name}`);
    assert.deepEqual(state.body, { instance: { instanceName: name, state: 'open' } });
  } finally {
    await pombo.close();
  }
});
