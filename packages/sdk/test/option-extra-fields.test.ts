import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PomboClient, PomboOptionError, type PomboClientOptions, type SubscribeRequest } from '../src/index.ts';
import { withPombo } from './sdk-fixtures.ts';

/** An application's configuration, wider than the SDK's options: TypeScript lets a spread of it through. */
interface AppSettings {
  baseUrl: string;
  apiKey: string;
  instanceName: string;
  webhookSecret: string;
}

test('options objects with fields of their own (a spread configuration) are taken; a misspelt option still throws', async () => {
  await withPombo({}, async (pombo, _admin, name) => {
    const settings: AppSettings = { baseUrl: pombo.url, apiKey: pombo.apiKey, instanceName: name, webhookSecret: 'whsec_x' };
    const client = new PomboClient({ ...settings });
    assert.equal((await client.instances.connectionState(settings.instanceName)).instance.instanceName, name);
    const saved = { instanceId: name, reconnect: true, maxRetries: 10, tenant: 'acme', savedAt: Date.now() };
    const request: SubscribeRequest = saved;
    await using sub = await client.events.subscribe(request);
    assert.equal(sub.state, 'open');
    const misspelt = (option: string) => (error: unknown) => error instanceof PomboOptionError && error.option === option && /no such option/.test(error.message);
    assert.throws(() => new PomboClient({ baseUrl: pombo.url, api_key: 'k' } as unknown as PomboClientOptions), misspelt('PomboClient.api_key'));
    assert.throws(() => new PomboClient({ baseUrl: pombo.url, BaseURL: 'x' } as unknown as PomboClientOptions), misspelt('PomboClient.BaseURL'));
    for (const wrong of ['MaxRetries', 'LastEventId', 'last_event_id', 'instance-token']) {
      await assert.rejects(client.events.subscribe({ instanceId: name, [wrong]: 'x' } as SubscribeRequest), misspelt(`subscribe.${wrong}`), wrong);
    }
  });
});
