import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PomboClient } from '../src/index.ts';
import { startPathPrefixProxy } from './path-prefix-proxy.ts';
import { publish, withPombo } from './sdk-fixtures.ts';

test('a baseUrl with a path (Pombo behind a reverse proxy at /pombo) keeps it, with or without a trailing slash: REST and realtime both work', async () => {
  await withPombo({}, async (pombo, _client, name) => {
    const proxy = await startPathPrefixProxy(pombo.url, '/pombo');
    try {
      for (const baseUrl of [proxy.url, `${proxy.url}/`]) {
        const client = new PomboClient({ baseUrl, apiKey: pombo.apiKey });
        assert.deepEqual((await client.instances.fetch({ instanceName: name })).map((instance) => instance.name), [name], `REST under ${baseUrl}`);
        const sub = await client.events.subscribe({ instanceId: name, subscriber: baseUrl.endsWith('/') ? 'slash' : 'bare' });
        const received = new Promise<string>((resolve) => sub.on('Message', (evt) => void resolve(evt.id)));
        const [id] = await publish(client, name, 1);
        assert.equal(await received, id, `realtime under ${baseUrl}`);
        await sub.close();
      }
      assert.deepEqual(proxy.missed, [], 'no request left the prefix');
    } finally {
      await proxy.close();
    }
  });
});

test("a baseUrl with a query (an API gateway's key) keeps it on REST calls and on the realtime endpoint, beside their own query", async () => {
  await withPombo({}, async (pombo, _client, name) => {
    const proxy = await startPathPrefixProxy(pombo.url, '/pombo', 'code=gw-1');
    try {
      for (const baseUrl of [`${proxy.url}?code=gw-1`, `${proxy.url.replace(/^http/, 'ws')}/?code=gw-1`]) {
        const client = new PomboClient({ baseUrl, apiKey: pombo.apiKey });
        assert.deepEqual((await client.instances.fetch({ instanceName: name })).map((instance) => instance.name), [name], `REST under ${baseUrl}`);
        const sub = await client.events.subscribe({ instanceId: name, events: ['Message'], subscriber: baseUrl.startsWith('ws') ? 'ws' : 'http' });
        const received = new Promise<string>((resolve) => sub.on('Message', (evt) => void resolve(evt.id)));
        const [id] = await publish(client, name, 1);
        assert.equal(await received, id, `realtime under ${baseUrl}`);
        await sub.close();
      }
      assert.deepEqual(proxy.missed, [], 'every request carried the key');
    } finally {
      await proxy.close();
    }
  });
});
