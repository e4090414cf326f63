import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName, eventually } from '../../server/test/helpers/pombo-harness.ts';
import { startTcpProxy } from '../../server/test/helpers/tcp-proxy.ts';
import { PomboClient, type EventSubscription } from '../src/index.ts';

const message = (id: string) => ({ event: 'MESSAGES_UPSERT', data: { key: { remoteJid: '1@s.whatsapp.net', id } } });

test('a connection the server stopped pinging (a frozen network) is closed and reconnected, and delivery resumes', async () => {
  const pombo = await startPombo({ REALTIME_PING_INTERVAL_MS: '300' });
  const proxy = await startTcpProxy({ port: Number(new URL(pombo.url).port) });
  let opened: EventSubscription | undefined;
  try {
    const admin = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey });
    const client = new PomboClient({ baseUrl: `http://127.0.0.1:${proxy.port}`, apiKey: pombo.apiKey });
    const name = uniqueName('frozen');
    await admin.instances.create({ instanceName: name });
    const errors: string[] = [];
    const sub = await client.events.subscribe({ instanceId: name, pingIntervalMs: 300, retryDelayMs: 50, maxRetryDelayMs: 200, onError: (error) => errors.push(error.message) });
    opened = sub;
    const seen: string[] = [];
    sub.on('Message', (event) => void seen.push(event.id));
    const [first] = (await admin.events.publish(name, [message('a')])).events;
    await eventually(() => seen.includes(first!.id), 'the first event');

    proxy.freeze();
    await eventually(() => sub.state !== 'open', 'the dead connection noticed', 5_000);
    assert.ok(errors.some((error) => error.includes('no ping from the server')), `the error handlers were told: ${errors.join(' | ')}`);
    const [second] = (await admin.events.publish(name, [message('b')])).events;

    proxy.restore();
    await eventually(() => sub.state === 'open' && proxy.connections >= 2, 'a new connection');
    await eventually(() => seen.includes(second!.id), 'the event published during the partition, delivered after it');
  } finally {
    await opened?.close(); // also when an assertion failed: a reconnecting subscription keeps the process alive
    await proxy.close();
    await pombo.close();
  }
});
