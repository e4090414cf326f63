import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket as UndiciWebSocket } from 'undici';
import { startPombo, uniqueName, type Harness } from '../../server/test/helpers/pombo-harness.ts';
import { PomboClient, PomboRealtimeError, type SocketLike, type Transport } from '../src/index.ts';

/** undici's WebSocket (Node 22's built-in one) as the SDK's transport, counting the connections it opens. */
function undiciTransport(): { transport: Transport; attempts: () => number } {
  let attempts = 0;
  const transport: Transport = {
    headers: false,
    open: (url) => {
      attempts++;
      return new UndiciWebSocket(url) as unknown as SocketLike;
    },
  };
  return { transport, attempts: () => attempts };
}

/** Creates an instance with the global key; answers its name. */
async function instanceOn(pombo: Harness): Promise<string> {
  const name = uniqueName('sdk');
  await new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey }).instances.create({ instanceName: name });
  return name;
}

test("with undici 6's WebSocket (Node 22's built-in one), which fires only `error` when it cannot connect, the reconnects go on and maxRetries ends the subscription", async () => {
  const pombo = await startPombo();
  const undici = undiciTransport();
  const transport = undici.transport;
  const name = await instanceOn(pombo);
  const client = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey, transport });
  const errors: string[] = [];
  const sub = await client.events.subscribe({ instanceId: name, retryDelayMs: 20, maxRetryDelayMs: 50, maxRetries: 3, onError: (error) => errors.push(error.message) });
  sub.on('All', () => undefined);
  await pombo.close();
  const outcome = await Promise.race([
    sub.waitForClose().then(
      () => 'resolved',
      (error: unknown) => error,
    ),
    new Promise((resolve) => setTimeout(() => resolve('still waiting after 3 s'), 3000)),
  ]);
  assert.ok(outcome instanceof PomboRealtimeError, String(outcome));
  assert.match(outcome.message, /gave up after 3 reconnect attempts/);
  assert.equal(undici.attempts(), 4, 'the first connection and 3 reconnects');
  assert.equal(sub.state, 'closed');
});

test("with undici's WebSocket (Node 22's built-in one), a refused subscription rejects at once with the refusal's code, instead of retrying without knowing why", async () => {
  const pombo = await startPombo();
  try {
    const undici = undiciTransport();
    const name = await instanceOn(pombo);
    const wrongKey = new PomboClient({ baseUrl: pombo.url, apiKey: 'a-wrong-key-0123456789', transport: undici.transport });
    const refused = await wrongKey.events.subscribe({ instanceId: name, retryDelayMs: 20, maxRetries: 3, onError: () => undefined }).then(
      () => assert.fail('a wrong key was accepted'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof PomboRealtimeError, String(refused));
    assert.equal(refused.closeCode, 4401);
    assert.equal(refused.fatal, true);
    assert.equal(undici.attempts(), 1, 'no retry');
  } finally {
    await pombo.close();
  }
});
