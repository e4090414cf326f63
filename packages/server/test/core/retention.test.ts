import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startPombo, uniqueName } from '../helpers/pombo-harness.ts';

test('events older than EVENTS_RETENTION_HOURS are pruned by the running server', async () => {
  const pombo = await startPombo({ EVENTS_RETENTION_HOURS: '0.0003' });
  try {
    const name = uniqueName('retention');
    await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
    const appended = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { n: 1 } });
    const read = async () => (await pombo.api('GET', `/events/${name}`)).body.events.map((e: { id: string }) => e.id);
    assert.ok((await read()).includes(appended.body.id), 'the event is there at first');
    await eventually(async () => (await read()).length === 0, 'the events to be pruned after about a second', 15_000, 200);
    const fresh = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { n: 2 } });
    assert.equal(fresh.body.seq, 3, 'pruning never reuses a sequence number');
    assert.deepEqual(await read(), [fresh.body.id]);
  } finally {
    await pombo.close();
  }
});
