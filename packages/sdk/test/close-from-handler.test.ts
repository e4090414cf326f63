import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withPombo } from './sdk-fixtures.ts';
import { PomboClient, type SocketLike, type Transport } from '../src/index.ts';
import { defaultTransport } from '../src/events/transport.ts';

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms))]);

test('await close() in an async handler does not wait for that handler: close() resolves, the event is acknowledged and the subscription closes', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const sub = await client.events.subscribe({ instanceId: name, subscriber: 'stop-after-one', concurrency: 2 });
    const steps: string[] = [];
    sub.on('Message', async (event) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      steps.push(`closing after ${event.data.data.key.id}`);
      await sub.close();
      steps.push('closed');
    });
    await client.events.publish(name, [{ event: 'MESSAGES_UPSERT', data: { key: { id: 'm0' } } }]);
    await within(sub.waitForClose(), 2000, 'waitForClose()');
    assert.deepEqual(steps, ['closing after m0', 'closed']);
    assert.equal(sub.state, 'closed');
    await using again = await client.events.subscribe({ instanceId: name, subscriber: 'stop-after-one' });
    const redelivered: string[] = [];
    again.on('Message', (event) => void redelivered.push(event.id));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(redelivered, [], 'the event was acknowledged before the socket closed');
  });
});

test('close() and waitForClose() resolve once the server answered the close: the acks sent before it are saved on the server', async () => {
  await withPombo({}, async (pombo, _client, name) => {
    const sockets: SocketLike[] = [];
    const ws = await defaultTransport();
    const transport: Transport = { headers: ws.headers, open: (...args) => sockets[sockets.push(ws.open(...args)) - 1] as SocketLike };
    const client = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey, transport });
    const sub = await client.events.subscribe({ instanceId: name });
    sub.on('Message', () => undefined);
    await sub.close();
    assert.equal(sockets.at(-1)?.readyState, 3, 'the socket is closed (3), not closing (2)');
    await sub.waitForClose();
  });
});
