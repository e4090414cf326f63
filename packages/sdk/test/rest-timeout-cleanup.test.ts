import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PomboClient } from '../src/index.ts';
import { withPombo } from './sdk-fixtures.ts';

test("an answered REST call leaves nothing armed: its request's signal is not aborted later by the timeout, and the caller's signal keeps no listener", async () => {
  await withPombo({}, async (pombo, _admin, name) => {
    const signals: AbortSignal[] = [];
    const recording: typeof fetch = (input, init) => {
      if (init?.signal) signals.push(init.signal);
      return fetch(input, init);
    };
    const client = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey, fetch: recording, timeoutMs: 100 });
    const shutdown = new AbortController(); // a process's: it outlives every call
    assert.equal((await client.instances.connectionState(name, { signal: shutdown.signal })).instance.instanceName, name);
    assert.equal((await client.instances.connectionState(name)).instance.instanceName, name);
    await sleep(300);
    assert.equal(signals.length, 2);
    assert.deepEqual(signals.map((signal) => signal.aborted), [false, false], 'the timeout was cleared when the answer came');
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0, "no listener left on the caller's signal");
  });
});

test("many REST calls with one long-lived signal (a process's shutdown) do not grow the heap", async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const instant: typeof fetch = async () => new Response('{"ok":true}', { status: 200 });
  const client = new PomboClient({ baseUrl: 'http://127.0.0.1:9', apiKey: 'k', fetch: instant });
  const shutdown = new AbortController();
  const calls = async (count: number): Promise<void> => {
    for (let n = 0; n < count; n++) await client.settings.find('alice', { signal: shutdown.signal });
  };
  await calls(2_000); // warm up
  gc();
  const before = process.memoryUsage().heapUsed;
  await calls(30_000);
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 3_000_000, `the heap grew by ${Math.round(grown / 1e6)} MB over 30,000 answered calls`);
});
