import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo } from '../helpers/pombo-harness.ts';
import { startReceiver } from '../webhook/http-receiver.ts';
import { numberedEvent } from '../helpers/event-flow.ts';
import { eventually } from '../helpers/pombo-harness.ts';

/**
 * In cluster mode each lease renewal reads every instance again (InstanceService.refresh) to take in
 * what other nodes changed. An instance this node created, or deleted, while that list was being read
 * is newer here than in the list: taken at its word, the list removed the new instance again (its
 * creation answered 404, its destinations' positions were forgotten, and events ingested meanwhile were
 * never delivered) or brought the deleted one back. Seen in the three-process test as a 404 on create.
 */
test('an instance created or deleted while a refresh reads the instances stays created, or deleted', async () => {
  const receiver = await startReceiver();
  const pombo = await startPombo();
  try {
    const { instances, store, dispatcher } = pombo.pombo.context;
    const doomed = await pombo.api('POST', '/instance/create', { instanceName: 'doomed', integration: 'INGEST' });
    assert.equal(doomed.status, 201);

    // The list is read, then held until both changes are made: it is older than both.
    const listInstances = store.listInstances.bind(store);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let read: () => void = () => {};
    const wasRead = new Promise<void>((resolve) => (read = resolve));
    store.listInstances = async () => {
      const list = await listInstances();
      read();
      await held;
      return list;
    };
    const refreshing = instances.refresh(dispatcher.headPosition);
    await wasRead;
    const created = await pombo.api('POST', '/instance/create', { instanceName: 'fresh', integration: 'INGEST', webhook: { url: `${receiver.url}/hook` } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await pombo.api('DELETE', '/instance/delete/doomed')).status, 200);
    release();
    await refreshing;
    store.listInstances = listInstances;

    assert.deepEqual(instances.list().map((instance) => instance.name), ['fresh'], 'the new instance is kept, the deleted one stays deleted');
    assert.ok(dispatcher.has(`webhook:${created.body.instance.instanceId}`), 'the new instance’s webhook still runs');
    assert.equal((await pombo.api('POST', '/events/fresh', numberedEvent(1))).status, 201);
    await eventually(() => receiver.requests.some((request) => request.json?.data?.n === 1), 'the event ingested after the refresh delivered');
  } finally {
    await pombo.close();
    await receiver.close();
  }
});
