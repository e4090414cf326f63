import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName } from '../helpers/pombo-harness.ts';

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
    const marked = () => [...(instances as unknown as { changedAt: Map<string, number> }).changedAt.keys()];
    assert.deepEqual(marked().filter((id) => !instances.findById(id)), [], 'no deleted instance is remembered after the refresh');
    const alone = uniqueName('alone');
    assert.equal((await pombo.api('POST', '/instance/create', { instanceName: alone, integration: 'INGEST' })).status, 201);
    assert.equal((await pombo.api('DELETE', `/instance/delete/${alone}`)).status, 200);
    assert.deepEqual(marked().filter((id) => !instances.findById(id)), [], 'nor one deleted while no refresh is under way');
    assert.equal(marked().length, instances.count, 'one mark per instance');
  } finally {
    await pombo.close();
  }
});
