import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { clusterNodeEnv } from './cluster-processes.ts';
import { ingest } from '../realtime/ws-client.ts';
import { startReceiver } from '../webhook/http-receiver.ts';
import type { Instance } from '../../src/store/types.ts';
import { holdEditAnswers } from '../helpers/held-edit.ts';

/**
 * A cluster node reads every instance again each renewal (InstanceService.refresh) to take in what other
 * nodes changed. What this node creates, configures or deletes while that list is being read is newer
 * than the list: the refresh must not undo it (seen in bench/cluster.ts as `POST /instance/create`
 * answering 404 "instance does not exist", the new instance dropped by a refresh that had listed the
 * instances just before it was created).
 */
test('a refresh that read the instances before this node created, configured or deleted one does not undo it', async () => {
  const pombo = await startPombo();
  try {
    const { instances, store } = pombo.pombo.context;
    const configured = uniqueName('configured');
    const deleted = uniqueName('deleted');
    for (const name of [configured, deleted]) assert.equal((await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).status, 201);

    // The refresh reads the instances now, and gets its answer only after the changes below.
    const listInstances = store.listInstances.bind(store);
    let answer!: () => void;
    const changesDone = new Promise<void>((resolve) => (answer = resolve));
    let read = false;
    store.listInstances = async () => {
      read = true;
      const listed = await listInstances();
      await changesDone;
      return listed;
    };
    const refreshed = instances.refresh();

    const created = uniqueName('created');
    assert.equal((await pombo.api('POST', '/instance/create', { instanceName: created, integration: 'INGEST' })).status, 201);
    const webhook = { enabled: true, url: 'https://hooks.example.com/new', events: ['MESSAGES_UPSERT'] };
    assert.equal((await pombo.api('POST', `/webhook/set/${configured}`, { webhook })).status, 201);
    assert.equal((await pombo.api('DELETE', `/instance/delete/${deleted}`)).status, 200);
    assert.ok(read, 'the refresh read the instances before the changes');
    answer();
    await refreshed;
    store.listInstances = listInstances;

    const listed = async (name: string) => ((await pombo.api('GET', `/instance/fetchInstances?instanceName=${name}`)).body as unknown[]).length;
    assert.equal(await listed(created), 1, 'the instance created meanwhile is still listed');
    assert.equal((await pombo.api('POST', `/events/${created}`, { event: 'MESSAGES_UPSERT', data: { n: 1 } })).status, 201, 'and takes events');
    const found = await pombo.api('GET', `/webhook/find/${configured}`);
    assert.equal(found.body?.url, webhook.url, 'the webhook set meanwhile is kept');
    assert.equal(await listed(deleted), 0, 'the instance deleted meanwhile stays deleted');

    // What it takes to get this right stays bounded: no id of a deleted instance is kept once the refresh is over.
    const marked = () => [...(instances as unknown as { deleted: Set<string> }).deleted];
    assert.deepEqual(marked(), [], 'no deleted instance is remembered after the refresh');
    const alone = uniqueName('alone');
    assert.equal((await pombo.api('POST', '/instance/create', { instanceName: alone, integration: 'INGEST' })).status, 201);
    assert.equal((await pombo.api('DELETE', `/instance/delete/${alone}`)).status, 200);
    assert.deepEqual(marked(), [], 'nor one deleted while no refresh is under way');
  } finally {
    await pombo.close();
  }
});


/**
 * Another node wrote an instance (heard at once: refreshOne reads that one row), then deleted it. When
 * the one-row read got the row before the deletion and answers after a refresh that found it gone, the
 * deleted instance must not come back (its token valid again, its destinations restarted).
 */
test('a read of one instance answered after a refresh found it deleted elsewhere does not bring it back', async () => {
  const pombo = await startPombo();
  try {
    const { instances, store } = pombo.pombo.context;
    const name = uniqueName('gone');
    const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
    assert.equal(created.status, 201);
    const { id } = instances.get(name);

    const getInstanceById = store.getInstanceById.bind(store);
    let answer!: () => void;
    const deletedElsewhere = new Promise<void>((resolve) => (answer = resolve));
    store.getInstanceById = async (instanceId: string) => {
      const row = await getInstanceById(instanceId);
      await deletedElsewhere;
      return row;
    };
    const readOne = instances.refreshOne(id);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await store.deleteInstance(id); // as another node would
    await instances.refresh();
    assert.equal(instances.findById(id), undefined, 'the refresh finds it deleted');
    answer();
    await readOne;
    store.getInstanceById = getInstanceById;

    assert.equal(instances.findById(id), undefined, 'the older read does not bring it back');
    const withToken = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { n: 1 } }, created.body.hash);
    assert.ok(withToken.status === 401 || withToken.status === 404, `its token reaches nothing (${withToken.status})`);
  } finally {
    await pombo.close();
  }
});

/**
 * A configuration written on one node is heard by the others at once (NOTIFY), not at their next
 * refresh: with a TTL of a minute, that refresh comes 20 s later, far past what this test waits.
 */
const { uri, service } = await postgresTestSchema();
const closing: Array<{ close(): Promise<void> }> = [];
after(async () => {
  await Promise.all(closing.map((item) => item.close()));
});

test('an endpoint added and a webhook changed on one node are served by the other within 2 s', { skip: 'skip' in service ? service.skip : false }, async () => {
  const apiKey = `cluster-${randomBytes(8).toString('hex')}`;
  const startNode = async (id: string): Promise<Harness> => {
    const node = await startPombo(clusterNodeEnv({ apiKey, uri, id, ttlMs: 60_000 }));
    closing.push(node);
    return node;
  };
  const receiver = await startReceiver();
  closing.push(receiver);
  const one = await startNode('node-1');
  const two = await startNode('node-2');
  const name = uniqueName('heard');
  const { id } = await one.sandbox(name);
  // Creations are heard through the log.
  await eventually(async () => (await two.api('GET', `/webhook/find/${name}`)).status === 200, 'the other node knows the instance');

  const endpoint = await one.api('POST', `/webhook/endpoints/${name}`, { url: `${receiver.url}/crm`, events: ['CONTACTS_UPSERT'] });
  assert.equal(endpoint.status, 201);
  const shown = await eventually(async () => {
    const answer = await two.api('GET', `/webhook/endpoints/${name}/${endpoint.body.id}`);
    return answer.status === 200 && answer.body;
  }, 'the other node serves the endpoint', 2000);
  assert.equal(shown.url, `${receiver.url}/crm`);

  const webhook = (path: string) => ({ webhook: { enabled: true, url: `${receiver.url}${path}`, events: ['MESSAGES_UPSERT'] } });
  assert.equal((await one.api('POST', `/webhook/set/${name}`, webhook('/first'))).status, 201);
  const holderId = await eventually(async () => {
    const { body } = await one.api('GET', '/cluster');
    return (body.leases as Array<{ destination: string; nodeId: string | null }>).find((lease) => lease.destination === `webhook:${id}`)?.nodeId;
  }, 'a node takes the webhook');
  const [holder, other] = holderId === 'node-1' ? [one, two] : [two, one];
  const [before] = await ingest(holder, name, 1);
  await eventually(() => receiver.accepted().some((request) => request.url === '/first' && request.json?.id === before), 'the holder delivers to the first URL');

  // Changed on the node that does not deliver the webhook: the holder sends to the new URL.
  assert.equal((await other.api('POST', `/webhook/set/${name}`, webhook('/second'))).status, 201);
  const changedAt = Date.now();
  const to = async (path: string) => {
    const [sent] = await ingest(other, name, 1);
    return eventually(() => receiver.accepted().find((request) => request.json?.id === sent)?.url, 'the event delivered').then((url) => url === path);
  };
  await eventually(() => to('/second'), 'the holder delivers to the new URL', 2000, 200);
  assert.ok(Date.now() - changedAt < 2500, `the new URL used ${Date.now() - changedAt} ms after the change`);
});

/**
 * Of two copies of an instance, a node keeps the one with the higher version (the store raises it with
 * every write of the row), whatever order its answers arrive in. Node A's own write answers late: node B
 * wrote the instance after it, and A read B's write (NOTIFY, refreshOne) either before A's write
 * answered or after. Either way A ends with B's configuration, not its own older one (until its next
 * refresh, 20 s away with a TTL of a minute).
 */
test('a node keeps the newest write of an instance whatever order its own write and its read of another node’s answer in', { skip: 'skip' in service ? service.skip : false }, async () => {
  const apiKey = `cluster-${randomBytes(8).toString('hex')}`;
  const startNode = async (id: string): Promise<Harness> => {
    const node = await startPombo(clusterNodeEnv({ apiKey, uri, id, ttlMs: 60_000 }));
    closing.push(node);
    return node;
  };
  const a = await startNode('node-a');
  const b = await startNode('node-b');
  const { instances, store } = a.pombo.context;
  const name = uniqueName('newest');
  assert.equal((await a.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).status, 201);
  const { id } = instances.get(name);
  await eventually(async () => (await b.api('GET', `/webhook/find/${name}`)).status === 200, 'node B knows the instance');

  // A's reads of B's writes of this instance, as A starts them.
  const reads: Array<Promise<void>> = [];
  const refreshOne = instances.refreshOne.bind(instances);
  instances.refreshOne = (instanceId: string) => {
    const read = refreshOne(instanceId);
    if (instanceId === id) reads.push(read);
    return read;
  };
  /** Holds the answer of A's next edit once the store has written it, until `release`. */
  const holdWrite = () => holdEditAnswers(store);
  const webhook = (path: string) => ({ webhook: { enabled: true, url: `https://hooks.example.com${path}`, events: ['MESSAGES_UPSERT'] } });
  const kept = () => instances.findById(id) as Instance;
  const assertNewest = async (path: string, what: string) => {
    assert.equal((kept().channels.webhook as { url: string }).url, `https://hooks.example.com${path}`, what);
    assert.equal(kept().version, (await store.getInstanceById(id))?.version, 'the version kept is the stored one');
    assert.equal((await a.api('GET', `/webhook/find/${name}`)).body?.url, `https://hooks.example.com${path}`, 'and A serves it');
  };

  // A's read of B's write is done before A's write answers.
  const first = holdWrite();
  const setOnA = a.api('POST', `/webhook/set/${name}`, webhook('/a-1'));
  await first.written;
  assert.equal((await b.api('POST', `/webhook/set/${name}`, webhook('/b-1'))).status, 201);
  await eventually(() => reads.length === 1, 'A hears of B’s write');
  await reads[0];
  first.release();
  assert.equal((await setOnA).status, 201);
  first.restore();
  await assertNewest('/b-1', 'the write that answered after A read a newer one does not replace it');

  // A's read of B's write started before A's write answers, and answers after it.
  const second = holdWrite();
  const getInstanceById = store.getInstanceById.bind(store);
  let readDone!: () => void;
  const readHeld = new Promise<void>((resolve) => (readDone = resolve));
  let answerRead!: () => void;
  const readReleased = new Promise<void>((resolve) => (answerRead = resolve));
  store.getInstanceById = async (instanceId: string) => {
    const row = await getInstanceById(instanceId);
    if (instanceId !== id) return row;
    store.getInstanceById = getInstanceById;
    readDone();
    await readReleased;
    return row;
  };
  const setAgainOnA = a.api('POST', `/webhook/set/${name}`, webhook('/a-2'));
  await second.written;
  assert.equal((await b.api('POST', `/webhook/set/${name}`, webhook('/b-2'))).status, 201);
  await readHeld;
  second.release();
  assert.equal((await setAgainOnA).status, 201);
  second.restore();
  answerRead();
  await reads[1];
  await assertNewest('/b-2', 'a read of a newer write is kept though A’s own write answered first');
});
