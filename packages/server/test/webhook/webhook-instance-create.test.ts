import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startPombo, uniqueName } from '../helpers/pombo-harness.ts';
import { receiverFor } from './http-receiver.ts';
import { emit, settled, type TestEvent } from './webhook-fixtures.ts';

const connection = (state: string): TestEvent => ({ event: 'CONNECTION_UPDATE', data: { state, statusReason: 200 } });

test('a webhook given in /instance/create receives its INSTANCE_CREATE first, once, and not again after a restart', async (t) => {
  const receiver = await receiverFor(t);
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-instance-create-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  // The global webhook exists before the instance: it gets the event as well.
  const env = { WEBHOOK_GLOBAL_ENABLED: 'true', WEBHOOK_GLOBAL_URL: `${receiver.url}/global`, WEBHOOK_EVENTS_INSTANCE_CREATE: 'true' };
  const at = (path: string) => receiver.accepted().filter((request) => request.url === path).map((request) => request.json);
  let pombo = await startPombo(env, dataDir);
  try {
    const name = uniqueName('born');
    const webhook = { url: `${receiver.url}/own`, events: ['INSTANCE_CREATE', 'QRCODE_UPDATED', 'CONNECTION_UPDATE'] };
    const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', webhook });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const instance = { name, id: created.body.instance.instanceId };
    const [open] = await emit(pombo, instance, [connection('open')]);
    await eventually(() => at('/own').some((body) => body.id === open), 'the event after the creation');
    await settled(pombo, instance);
    const stored = (await pombo.api('GET', `/events/${instance.name}`)).body.events;
    assert.equal(stored[0].event, 'instance.create');
    assert.deepEqual(
      at('/own').map((body) => [body.event, body.id]),
      [
        ['instance.create', stored[0].id],
        ['connection.update', open],
      ],
    );
    assert.deepEqual(at('/own')[0].data, { instanceName: instance.name, instanceId: instance.id });
    await eventually(() => at('/global').some((body) => body.event === 'instance.create' && body.instance === instance.name), 'the global webhook to get it');

    await pombo.close();
    pombo = await startPombo(env, dataDir);
    const [close] = await emit(pombo, instance, [connection('close')]);
    await eventually(() => at('/own').some((body) => body.id === close), 'the event after the restart');
    await settled(pombo, instance);
    assert.deepEqual(
      at('/own').map((body) => body.event),
      ['instance.create', 'connection.update', 'connection.update'],
      'nothing sent again after the restart',
    );
  } finally {
    await pombo.close();
  }
});
