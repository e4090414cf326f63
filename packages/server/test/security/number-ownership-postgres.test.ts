import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { assertError, logOf } from '../core/http-assert.ts';

/**
 * An instance's number (its `ownerJid`) belongs to one instance (docs/security.md, "Identity"). Each
 * Pombo checks it against the instances it keeps in memory; on PostgreSQL that check alone let a
 * number go to two instances: requests answered at once (each passed the check before the other's
 * update came back), and nodes sharing the database (each knows what the others changed only at its
 * next refresh). The database holds the rule, so the second claim is refused wherever it comes from.
 */
const { uri, service } = await postgresTestSchema();
const options = 'skip' in service ? service : {};

let nodeA: Harness;
let nodeB: Harness;
before(async () => {
  if ('skip' in service) return;
  const env = { DATABASE_PROVIDER: 'postgresql', DATABASE_CONNECTION_URI: uri };
  nodeA = await startPombo(env);
  nodeB = await startPombo({ ...env, AUTHENTICATION_API_KEY: nodeA.apiKey });
});
after(async () => {
  await nodeB?.close();
  await nodeA?.close();
});

const freshNumber = () => `55119${randomInt(10_000_000, 100_000_000)}`;
const jidOf = (number: string) => `${number}@s.whatsapp.net`;
const ingestInstance = async (node: Harness) => {
  const name = uniqueName('owner');
  assert.equal((await node.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).status, 201);
  return name;
};
const claim = (node: Harness, name: string, number: string) => node.api('POST', `/events/${name}`, { event: 'CALL', data: {}, sender: jidOf(number) });
const ownersOf = async (node: Harness, number: string) =>
  ((await node.api('GET', '/instance/fetchInstances')).body as Array<{ name: string; ownerJid: string | null }>).filter((instance) => instance.ownerJid === jidOf(number));

test('two nodes on one database: a number one node gave an instance is refused to an instance of the other, by ingest and by the sandbox', options, async () => {
  const number = freshNumber();
  const first = await ingestInstance(nodeA);
  const second = await ingestInstance(nodeB);
  assert.equal((await claim(nodeA, first, number)).status, 201);

  // Node B's memory does not know the number is taken, the database does: the answer is the one node A's memory gives.
  const memoryRefusal = await claim(nodeA, await ingestInstance(nodeA), number);
  assertError(memoryRefusal, 400, 'POMBO_ERR_VALIDATION', /is the number of another instance on this server; an instance's events cannot speak for another/);
  assert.deepEqual(await claim(nodeB, second, number), memoryRefusal);
  assert.deepEqual((await logOf(nodeB, second)).map((event) => event.event), ['instance.create'], 'the refused request stored nothing');
  const sandboxed = uniqueName('sandbox');
  assert.equal((await nodeB.api('POST', '/instance/create', { instanceName: sandboxed, number })).status, 201);
  const remedy = /the number \d+ is already another instance's: delete this instance and create it with another number/;
  assertError(await nodeB.api('GET', `/instance/connect/${sandboxed}`), 400, 'POMBO_ERR_VALIDATION', remedy);
  assert.equal((await nodeB.api('GET', `/instance/connectionState/${sandboxed}`)).body.instance.state, 'close', 'the refused connect is undone');
  const connectLog = (await logOf(nodeB, sandboxed)).map(({ event, data }) =>
    event === 'connection.update' ? `${event} ${data.state} ${data.statusReason}` : event === 'status.instance' ? `${event} ${data.status} ${data.disconnectionReasonCode}` : event,
  );
  assert.deepEqual(connectLog, ['instance.create', 'qrcode.updated', 'status.instance closed 403', 'connection.update close 403'], 'the connect the log shows starting is shown ending, forbidden (as Evolution API reports it)');

  assert.deepEqual((await ownersOf(nodeB, number)).map((instance) => instance.name), [], 'node B gave it to none of its instances');
  assert.deepEqual((await ownersOf(nodeA, number)).map((instance) => instance.name), [first]);
});

test('a sandbox connect refused for a number taken since its create answers the same words whether memory or the database refused it', options, async () => {
  const number = freshNumber();
  const [onA, onB] = [uniqueName('sandbox'), uniqueName('sandbox')];
  assert.equal((await nodeA.api('POST', '/instance/create', { instanceName: onA, number })).status, 201);
  assert.equal((await nodeB.api('POST', '/instance/create', { instanceName: onB, number })).status, 201);
  assert.equal((await claim(nodeA, await ingestInstance(nodeA), number)).status, 201);
  const byMemory = await nodeA.api('GET', `/instance/connect/${onA}`);
  assertError(byMemory, 400, 'POMBO_ERR_VALIDATION', new RegExp(`the number ${number} is already another instance's: delete this instance and create it with another number`));
  assert.deepEqual(await nodeB.api('GET', `/instance/connect/${onB}`), byMemory);
});

test('one node: of requests giving one number to different instances at once, one gets it, the others are refused', options, async () => {
  for (let round = 0; round < 5; round++) {
    const number = freshNumber();
    const names = await Promise.all([ingestInstance(nodeA), ingestInstance(nodeA), ingestInstance(nodeA)]);
    const answers = await Promise.all(names.map((name) => claim(nodeA, name, number)));
    assert.deepEqual(answers.map((answer) => answer.status).sort(), [201, 400, 400], JSON.stringify(answers.map((answer) => answer.body)));
    const winner = names[answers.findIndex((answer) => answer.status === 201)];
    assert.deepEqual((await ownersOf(nodeA, number)).map((instance) => instance.name), [winner]);
  }
});
