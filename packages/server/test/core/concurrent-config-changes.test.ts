import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { clusterNodeEnv } from '../cluster/cluster-processes.ts';
import { startReceiver } from '../webhook/http-receiver.ts';
import { holdEditAnswers } from '../helpers/held-edit.ts';

/**
 * Changes of one instance's configuration sent at once (endpoints added and changed, the default webhook
 * set while its secret rotates and its websocket is set, settings) are all kept: each is made to the instance as stored, not to a
 * copy a node read earlier. Run on SQLite (one node) and on PostgreSQL with two nodes sharing it (two
 * Pombos in this process on one schema, as in cluster mode), the requests spread over the nodes.
 */
const { uri, service } = await postgresTestSchema();
const ADDED = 16;
const secret = (fill: number) => `whsec_${Buffer.alloc(32, fill).toString('base64')}`;
const ROTATED = secret(1);
const SET = secret(2);

const closing: Harness[] = [];
after(async () => {
  await Promise.all(closing.map((node) => node.close()));
});

async function startNodes(envs: Array<Record<string, string>>): Promise<Harness[]> {
  const nodes: Harness[] = [];
  for (const env of envs) {
    const node = await startPombo({ WEBHOOK_MAX_ENDPOINTS_PER_INSTANCE: String(ADDED + 10), ...env });
    closing.push(node);
    nodes.push(node);
  }
  return nodes;
}

const endpointsSeen = async (node: Harness, name: string): Promise<Array<{ id: string; description: string | null }>> =>
  (await node.api('GET', `/webhook/endpoints/${name}`)).body.endpoints ?? [];

async function allKept(nodes: Harness[]): Promise<void> {
  const [first] = nodes as [Harness];
  const on = (i: number) => nodes[i % nodes.length] as Harness;
  const name = uniqueName('concurrent');
  const created = await first.api('POST', '/instance/create', {
    instanceName: name,
    integration: 'INGEST',
    webhook: { enabled: false, url: 'http://127.0.0.1:9/before', secret: secret(3) },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id: string = created.body.instance.instanceId;
  // One after the other: the two are listed in the order they were added, which the check of their descriptions reads.
  const addEndpoint = async (n: number) => (await first.api('POST', `/webhook/endpoints/${name}`, { enabled: false, url: `http://127.0.0.1:9/e${n}` })).body.id as string;
  const patched1 = await addEndpoint(1);
  const patched2 = await addEndpoint(2);
  for (const node of nodes) await eventually(async () => (await endpointsSeen(node, name)).length === 2, 'every node knows the instance and its endpoints');

  const answers = await Promise.all([
    ...Array.from({ length: ADDED }, (_, i) => on(i).api('POST', `/webhook/endpoints/${name}`, { enabled: false, url: `http://127.0.0.1:9/added-${i}`, description: `added-${i}` })),
    on(0).api('PATCH', `/webhook/endpoints/${name}/${patched1}`, { description: 'patched-1' }),
    on(1).api('PATCH', `/webhook/endpoints/${name}/${patched2}`, { description: 'patched-2' }),
    on(0).api('POST', `/webhook/rotate-secret/${name}`, { secret: ROTATED, overlapSeconds: 60 }),
    on(1).api('POST', `/webhook/set/${name}`, { webhook: { enabled: false, url: 'http://127.0.0.1:9/after', secret: SET } }),
    on(0).api('POST', `/websocket/set/${name}`, { websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } }),
    on(0).api('POST', `/settings/set/${name}`, { rejectCall: true }),
    on(1).api('POST', `/settings/set/${name}`, { groupsIgnore: true }),
  ]);
  for (const answer of answers) assert.ok(answer.status < 300, JSON.stringify(answer.body));

  const stored = await first.pombo.context.store.getInstanceById(id);
  const endpoints = (stored?.channels.webhookEndpoints ?? []) as Array<{ id: string; description: string | null }>;
  const descriptions = endpoints.map((endpoint) => endpoint.description);
  assert.deepEqual(
    descriptions.filter((text) => text?.startsWith('added-')).sort(),
    Array.from({ length: ADDED }, (_, i) => `added-${i}`).sort(),
    'every endpoint added is kept',
  );
  assert.deepEqual(descriptions.slice(0, 2), ['patched-1', 'patched-2'], 'both changes of existing endpoints are kept');
  const webhook = stored?.channels.webhook as { url: string; secret: string };
  assert.equal(webhook.url, 'http://127.0.0.1:9/after', 'the webhook set is kept, whether the rotation came before or after it');
  assert.ok([ROTATED, SET].includes(webhook.secret), 'the secret is the one set or the one rotated to after it');
  assert.equal((stored?.channels.websocket as { enabled?: boolean } | undefined)?.enabled, true, 'the websocket set at the same time as the webhook is kept too');
  assert.deepEqual(stored?.channels.settings, { ...(stored?.channels.settings as object), rejectCall: true, groupsIgnore: true }, 'both settings are kept');

  // Every node takes in what the others changed (at its next refresh in cluster mode).
  for (const node of nodes) {
    await eventually(async () => (await endpointsSeen(node, name)).length === ADDED + 2, 'every node lists every endpoint');
  }
}

describe('concurrent changes of an instance configuration', () => {
  test('SQLite, one node: none is lost', async () => {
    await allKept(await startNodes([{}]));
  });

  test('PostgreSQL, two nodes sharing it: none is lost', service, async () => {
    const apiKey = `concurrent-${randomBytes(8).toString('hex')}`;
    await allKept(await startNodes(['node-1', 'node-2'].map((id) => clusterNodeEnv({ apiKey, uri, id, ttlMs: 1500 }))));
  });
});

test('a state change whose answer carries a webhook set still under way applies that set: the webhook delivers', async (t) => {
  const pombo = await startPombo({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
  closing.push(pombo);
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const name = uniqueName('state-set');
  assert.equal((await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).status, 201);
  // The set's write is made and its answer held: the logout writes after it, so its answer holds the webhook too, and comes first.
  const held = holdEditAnswers(pombo.pombo.context.store);
  const set = pombo.api('POST', `/webhook/set/${name}`, { webhook: { enabled: true, url: `${receiver.url}/new`, events: ['MESSAGES_UPSERT'] } });
  await held.written;
  assert.equal((await pombo.api('DELETE', `/instance/logout/${name}`)).status, 200);
  held.release();
  assert.equal((await set).status, 201);
  held.restore();
  const posted = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { key: { remoteJid: '5511900000001@s.whatsapp.net', fromMe: false, id: 'after-set' } } });
  assert.equal(posted.status, 201);
  await eventually(() => receiver.accepted().some((request) => request.url === '/new' && request.json?.id === posted.body.id), 'the webhook delivers the event to its URL');
});
