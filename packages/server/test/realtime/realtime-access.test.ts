import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { eventually, startPombo, uniqueName, withPombo } from '../helpers/pombo-harness.ts';
import { connect, ingest } from './ws-client.ts';

const refused = async (promise: Promise<unknown>): Promise<{ status: number; body: any }> => {
  const error = (await promise.then(
    () => assert.fail('the handshake was accepted'),
    (error: unknown) => error,
  )) as { status: number; body: string };
  return { status: error.status, body: JSON.parse(error.body) };
};

test('a handshake without a valid key, for another instance, an unknown instance or an unknown event is refused with an HTTP status before any upgrade', () =>
  withPombo({}, async (pombo) => {
    const mine = uniqueName('mine');
    const theirs = uniqueName('theirs');
    const { token } = await pombo.sandbox(mine);
    await pombo.sandbox(theirs);
    const noKey = await refused(connect(pombo.url, { query: { instance_id: mine } }));
    assert.equal(noKey.status, 401);
    assert.equal(noKey.body.code, 'POMBO_ERR_UNAUTHORIZED');
    const wrongKey = await refused(connect(pombo.url, { query: { instance_id: mine, access_token: 'nope' } }));
    assert.equal(wrongKey.status, 401);
    const cross = await refused(connect(pombo.url, { query: { instance_id: theirs }, headers: { 'x-instance-token': token } }));
    assert.equal(cross.status, 403);
    assert.equal(cross.body.code, 'POMBO_ERR_FORBIDDEN');
    const missing = await refused(connect(pombo.url, { query: { instance_id: 'nobody-here' }, headers: { apikey: pombo.apiKey } }));
    assert.equal(missing.status, 404);
    // An instance token learns nothing of other names: one that does not exist is refused as one that does.
    const probe = await refused(connect(pombo.url, { query: { instance_id: 'nobody-here' }, headers: { 'x-instance-token': token } }));
    assert.deepEqual([probe.status, probe.body.code], [403, 'POMBO_ERR_FORBIDDEN']);
    const badEvent = await refused(connect(pombo.url, { query: { instance_id: mine, events: 'Message,Receipt' }, headers: { apikey: pombo.apiKey } }));
    assert.equal(badEvent.status, 400);
    assert.equal(badEvent.body.code, 'POMBO_ERR_UNKNOWN_EVENT');
    assert.match(badEvent.body.response.message[0], /Receipt/);
    const noInstance = await refused(connect(pombo.url, { headers: { apikey: pombo.apiKey } }));
    assert.equal(noInstance.status, 400);
  }),
);

test('a browser (Origin header, credentials in the query) is told why with a close code: 4403 for another instance, 4401 without a key', () =>
  withPombo({}, async (pombo) => {
    const mine = uniqueName('mine');
    const theirs = uniqueName('theirs');
    const { token } = await pombo.sandbox(mine);
    await pombo.sandbox(theirs);
    const origin = { origin: 'https://dashboard.example' };
    const cross = await connect(pombo.url, { query: { instance_id: theirs, instance_token: token }, headers: origin });
    const closed = await cross.closed;
    assert.equal(closed.code, 4403);
    assert.match(closed.reason, /theirs/);
    assert.equal(cross.frames.length, 0);
    const anonymous = await connect(pombo.url, { query: { instance_id: mine }, headers: origin });
    assert.equal((await anonymous.closed).code, 4401);
  }),
);

test('a browser-style connection with the instance token in the query receives and acks its own events', () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('browser');
    const { token, id } = await pombo.sandbox(name);
    const client = await connect(pombo.url, {
      query: { instance_id: id, instance_token: token, events: 'Message' },
      headers: { origin: 'https://dashboard.example' },
      autoAck: true,
    });
    const ids = await ingest(pombo, name, 2);
    const frames = await client.waitFrames(2);
    assert.deepEqual(frames.map((frame) => frame.id), ids);
    const viaAccessToken = await connect(pombo.url, { query: { instance_id: name, access_token: pombo.apiKey, subscriber: 'ops' }, autoAck: true });
    const [later] = await ingest(pombo, name, 1);
    assert.equal((await viaAccessToken.waitFrames(1))[0]!.id, later, 'the global key works in access_token too');
    await Promise.all([client.close(), viaAccessToken.close()]);
  }),
);

test('deleting the instance closes its connections with 4410 after they received the removal events', () =>
  withPombo({ REALTIME_ACK_WAIT_MS: '200' }, async (pombo) => {
    const name = uniqueName('doomed');
    const { token } = await pombo.sandbox(name);
    const client = await connect(pombo.url, { query: { instance_id: name }, headers: { 'x-instance-token': token }, autoAck: true });
    await pombo.api('DELETE', `/instance/delete/${name}`);
    const closed = await client.closed;
    assert.equal(closed.code, 4410);
    assert.deepEqual(client.frames.map((frame) => frame.data.event), ['instance.delete', 'remove.instance']);
  }),
);

test('deleting an instance forgets the positions of its subscribers, also of those not connected since a restart', async () => {
  const first = await startPombo();
  const name = uniqueName('forgotten');
  const { id } = await first.sandbox(name);
  const positions = ['ops', 'audit'].map((subscriber) => `realtime:${id}:${subscriber}`);
  for (const subscriber of ['ops', 'audit']) {
    const client = await connect(first.url, { query: { instance_id: name, subscriber }, headers: { apikey: first.apiKey }, autoAck: true });
    await ingest(first, name, 1);
    await client.waitFrames(1);
    await client.close();
  }
  await first.close({ keepData: true });
  const second = await startPombo({}, first.dataDir);
  try {
    const { store } = second.pombo.context;
    for (const position of positions) assert.ok((await store.getCursor(position)) !== undefined, `${position} was kept across the restart`);
    assert.equal((await second.api('DELETE', `/instance/delete/${name}`)).status, 200);
    await eventually(async () => (await Promise.all(positions.map((position) => store.getCursor(position)))).every((cursor) => cursor === undefined), 'the positions are deleted');
    assert.equal(await store.getCursor(`realtime:${id}`), undefined);
  } finally {
    await second.close();
    rmSync(first.dataDir, { recursive: true, force: true });
  }
});

test('a REMOVE_INSTANCE that a producer ingests for a live instance is only an event: the connection stays', () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('alive');
    await pombo.sandbox(name);
    const client = await connect(pombo.url, { query: { instance_id: name }, headers: { apikey: pombo.apiKey }, autoAck: true });
    await ingest(pombo, name, 1, 'REMOVE_INSTANCE');
    await ingest(pombo, name, 1);
    const frames = await client.waitFrames(2);
    assert.deepEqual(frames.map((frame) => frame.data.event), ['remove.instance', 'messages.upsert']);
    assert.equal(client.ws.readyState, client.ws.OPEN);
    await client.close();
  }),
);

test('a server shutdown closes connections with 1001 (reconnect)', async () => {
  const pombo = await startPombo();
  const name = uniqueName('bye');
  const { token } = await pombo.sandbox(name);
  const client = await connect(pombo.url, { query: { instance_id: name }, headers: { 'x-instance-token': token } });
  await pombo.close();
  assert.equal((await client.closed).code, 1001);
});
