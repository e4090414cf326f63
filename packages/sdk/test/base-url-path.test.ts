import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PomboClient } from '../src/index.ts';
import { startPathPrefixProxy } from './path-prefix-proxy.ts';
import { publish, withPombo } from './sdk-fixtures.ts';

/** Through a proxy serving Pombo under /pombo (requiring `gatewayKey` when given), each baseUrl reaches REST and realtime. */
async function reachesThroughProxy(prefixed: (proxyUrl: string) => string[], gatewayKey?: string): Promise<void> {
  await withPombo({}, async (pombo, _client, name) => {
    const proxy = await startPathPrefixProxy(pombo.url, '/pombo', gatewayKey);
    try {
      for (const [n, baseUrl] of prefixed(proxy.url).entries()) {
        const client = new PomboClient({ baseUrl, apiKey: pombo.apiKey });
        assert.deepEqual((await client.instances.fetch({ instanceName: name })).map((instance) => instance.name), [name], `REST under ${baseUrl}`);
        const sub = await client.events.subscribe({ instanceId: name, events: ['Message'], subscriber: `s${n}` });
        const received = new Promise<string>((resolve) => sub.on('Message', (evt) => void resolve(evt.id)));
        const [id] = await publish(client, name, 1);
        assert.equal(await received, id, `realtime under ${baseUrl}`);
        await sub.close();
      }
      assert.deepEqual(proxy.missed, [], 'no request left the prefix or came without the key');
    } finally {
      await proxy.close();
    }
  });
}

test('a baseUrl with a path (Pombo behind a reverse proxy at /pombo) keeps it, with or without a trailing slash: REST and realtime both work', async () => {
  await reachesThroughProxy((url) => [url, `${url}/`]);
});

test("a baseUrl with a query (an API gateway's key) keeps it on REST calls and on the realtime endpoint, beside their own query", async () => {
  await reachesThroughProxy((url) => [`${url}?code=gw-1`, `${url.replace(/^http/, 'ws')}/?code=gw-1`], 'code=gw-1');
});
