import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTcpProxy } from '../../server/test/helpers/tcp-proxy.ts';
import { PomboClient, PomboTimeoutError } from '../src/index.ts';
import { withPombo } from './sdk-fixtures.ts';

/** Settles with what `call` settled with, or 'still pending' after `ms`: a call with no timeout never settles. */
const within = (ms: number, call: Promise<unknown>): Promise<unknown> =>
  Promise.race([call.then((value) => ({ value }), (error: unknown) => error), sleep(ms, 'still pending')]);

test('a REST call to a Pombo that stopped answering (a frozen network) rejects after timeoutMs with a PomboTimeoutError naming the method and path', async () => {
  await withPombo({}, async (pombo, _admin, name) => {
    const proxy = await startTcpProxy({ port: Number(new URL(pombo.url).port) });
    try {
      const client = new PomboClient({ baseUrl: `http://127.0.0.1:${proxy.port}`, apiKey: pombo.apiKey, timeoutMs: 300 });
      assert.equal((await client.instances.connectionState(name)).instance.instanceName, name, 'answers while the network works');
      proxy.freeze();
      const started = Date.now();
      const error = await within(5_000, client.instances.connectionState(name));
      assert.ok(error instanceof PomboTimeoutError, `got ${String(error)}`);
      assert.equal(error.message, `GET /instance/connectionState/${name}: no complete answer from Pombo within 300 ms (timeoutMs)`);
      assert.deepEqual([error.method, error.path, error.timeoutMs], ['GET', `/instance/connectionState/${name}`, 300]);
      assert.ok(Date.now() - started < 2_000, 'rejected at the timeout');
      const perCall = await within(5_000, client.instances.fetch({}, { timeoutMs: 100 }));
      assert.ok(perCall instanceof PomboTimeoutError && perCall.timeoutMs === 100, 'a call may set its own timeout');
    } finally {
      await proxy.close();
    }
  });
});

test("a caller's AbortSignal aborts a REST call with the caller's reason (not a timeout), and the timeout still applies beside it", async () => {
  await withPombo({}, async (pombo, _admin, name) => {
    const proxy = await startTcpProxy({ port: Number(new URL(pombo.url).port) });
    try {
      const client = new PomboClient({ baseUrl: `http://127.0.0.1:${proxy.port}`, apiKey: pombo.apiKey, timeoutMs: 5_000 });
      proxy.freeze();
      const stop = new AbortController();
      const call = within(3_000, client.instances.connectionState(name, { signal: stop.signal }));
      setTimeout(() => stop.abort(new Error('the user went away')), 100);
      const error = await call;
      assert.ok(error instanceof Error && !(error instanceof PomboTimeoutError), `got ${String(error)}`);
      assert.equal(error.message, 'the user went away');
      const timedOut = await within(3_000, client.instances.connectionState(name, { signal: new AbortController().signal, timeoutMs: 200 }));
      assert.ok(timedOut instanceof PomboTimeoutError, `with a signal that never aborts: ${String(timedOut)}`);
    } finally {
      await proxy.close();
    }
  });
});
