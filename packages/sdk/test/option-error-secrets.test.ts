import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PomboClient, PomboOptionError, type PomboClientOptions, type SubscribeRequest } from '../src/index.ts';
import { withPombo } from './sdk-fixtures.ts';

test("a misspelt option's error names it and its type, never its value: a misspelt key is still a key (logs keep error messages)", async () => {
  await withPombo({}, async (pombo, client, name) => {
    const [instance] = await client.instances.fetch({ instanceName: name });
    const token = instance!.token;
    const keyError = (() => {
      try {
        return new PomboClient({ baseUrl: pombo.url, apikey: pombo.apiKey } as unknown as PomboClientOptions);
      } catch (error) {
        return error;
      }
    })();
    assert.ok(keyError instanceof PomboOptionError && keyError.option === 'PomboClient.apikey', String(keyError));
    assert.ok(!keyError.message.includes(pombo.apiKey), keyError.message);
    assert.match(keyError.message, /got a string$/);
    // The seed's C# names, translated as they are: InstanceToken for instanceToken.
    const tokenError = await client.events.subscribe({ instanceId: name, InstanceToken: token } as unknown as SubscribeRequest).catch((error: unknown) => error);
    assert.ok(tokenError instanceof PomboOptionError && tokenError.option === 'subscribe.InstanceToken', String(tokenError));
    assert.ok(!tokenError.message.includes(token), tokenError.message);
  });
});
