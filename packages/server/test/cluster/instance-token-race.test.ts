import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { clusterNodeEnv } from './cluster-processes.ts';

const { uri, service } = await postgresTestSchema();
const nodes: Harness[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.close()));
});

test('two nodes creating instances with one token at once: one gets it, the other a 400, and the token opens the same instance on both', service, async () => {
  const apiKey = `key-${randomBytes(8).toString('hex')}`;
  for (const id of ['node-1', 'node-2']) nodes.push(await startPombo(clusterNodeEnv({ apiKey, uri, id, ttlMs: 1500 })));
  const [first, second] = nodes as [Harness, Harness];
  for (let round = 0; round < 5; round++) {
    const token = `raced-token-${randomBytes(8).toString('hex')}`;
    const names = [uniqueName('race'), uniqueName('race')];
    // Each node checks the token against what it has in memory: both checks pass, the database decides.
    const answers = await Promise.all([first, second].map((node, n) => node.api('POST', '/instance/create', { instanceName: names[n], integration: 'INGEST', token })));
    assert.deepEqual(answers.map((answer) => answer.status).sort(), [201, 400], JSON.stringify(answers.map((answer) => answer.body)));
    const refused = answers.find((answer) => answer.status === 400);
    assert.match(refused?.body.response.message[0] ?? '', /token is already in use/);
    const winner = names[answers.findIndex((answer) => answer.status === 201)] as string;
    const loser = names.find((name) => name !== winner) as string;
    for (const node of nodes) {
      // The other node hears of the new instance within milliseconds (NOTIFY).
      await eventually(async () => (await node.api('GET', `/instance/connectionState/${winner}`, undefined, token)).status === 200, 'the token opens the winner');
      assert.equal((await node.api('GET', `/instance/connectionState/${loser}`)).status, 404, 'the refused creation left nothing');
    }
  }
});
