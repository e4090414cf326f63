import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName, withPombo } from '../helpers/pombo-harness.ts';
import { startReceiver } from '../webhook/http-receiver.ts';

test("a connect and a logout leave the instance's destinations as they are; a webhook set changes them", async () => {
  const receiver = await startReceiver();
  try {
    await withPombo({}, async (pombo) => {
      const name = uniqueName('state');
      await pombo.sandbox(name, { webhook: { enabled: true, url: `${receiver.url}/a` } });
      const { dispatcher } = pombo.pombo.context;
      const rebuilt: string[] = [];
      const upsert = dispatcher.upsert.bind(dispatcher);
      dispatcher.upsert = (spec) => {
        rebuilt.push(spec.id);
        return upsert(spec);
      };
      assert.equal((await pombo.api('GET', `/instance/connect/${name}`)).status, 200);
      assert.equal((await pombo.api('DELETE', `/instance/logout/${name}`)).status, 200);
      assert.equal((await pombo.api('GET', `/instance/connect/${name}`)).status, 200);
      assert.deepEqual(rebuilt, [], 'state changes build no destination again');
      assert.equal((await pombo.api('POST', `/webhook/set/${name}`, { webhook: { enabled: true, url: `${receiver.url}/b` } })).status, 201);
      assert.equal(rebuilt.length, 1, 'a webhook set builds its destination again');
    });
  } finally {
    await receiver.close();
  }
});
