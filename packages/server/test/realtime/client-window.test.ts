import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, uniqueName, withPombo } from '../helpers/pombo-harness.ts';
import { connect, ingest } from './ws-client.ts';

test('max_in_flight: a client takes at most that many events unacknowledged; each ack lets the next one come; a bad value is a 400', () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('window');
    const { id, token } = await pombo.sandbox(name);
    const headers = { 'x-instance-token': token };
    const client = await connect(pombo.url, { query: { instance_id: id, events: 'MESSAGES_UPSERT', max_in_flight: '3' }, headers });
    const ids = await ingest(pombo, name, 10);
    await client.waitFrames(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(client.frames.map((frame) => frame.id), ids.slice(0, 3), 'three, in order, and no more while none is acknowledged');
    for (let acked = 0; acked < 10; acked++) {
      client.ack(ids[acked] as string);
      await eventually(() => client.frames.length === Math.min(10, acked + 4), `event ${acked + 4} once ${acked + 1} are acknowledged`);
    }
    assert.deepEqual(client.frames.map((frame) => frame.id), ids);
    await client.close();

    for (const bad of ['0', '-1', 'ten', '1.5']) {
      const answer = await connect(pombo.url, { query: { instance_id: id, max_in_flight: bad }, headers }).then(
        () => assert.fail(`max_in_flight=${bad} was accepted`),
        (error: { status?: number; body?: string }) => error,
      );
      assert.equal(answer.status, 400, bad);
      assert.match(answer.body ?? '', /max_in_flight must be a whole number of events, at least 1/);
    }
  }),
);

test("each connection of a subscriber keeps to its own max_in_flight: one that asked for 2 holds 2, the other takes the rest", () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('windows');
    const { id, token } = await pombo.sandbox(name);
    const headers = { 'x-instance-token': token };
    const slow = await connect(pombo.url, { query: { instance_id: id, subscriber: 'w', events: 'MESSAGES_UPSERT', max_in_flight: '2' }, headers });
    const fast = await connect(pombo.url, { query: { instance_id: id, subscriber: 'w', events: 'MESSAGES_UPSERT' }, headers, autoAck: true });
    const ids = await ingest(pombo, name, 40);
    await eventually(() => slow.frames.length + fast.frames.length === 40, 'every event sent to one of them');
    assert.ok(slow.frames.length <= 2, `the connection that asked for 2 holds ${slow.frames.length}`);
    assert.deepEqual([...slow.frames, ...fast.frames].map((frame) => frame.id).sort(), [...ids].sort());
    await Promise.all([slow.close(), fast.close()]);
  }),
);

test("events a closed connection left unacknowledged, which the connections left do not want, do not fill the window: the others' events still flow", () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('parked');
    const { id, token } = await pombo.sandbox(name);
    const headers = { 'x-instance-token': token };
    const messages = await connect(pombo.url, { query: { instance_id: id, subscriber: 'w', events: 'MESSAGES_UPSERT', max_in_flight: '10' }, headers });
    const contacts = await connect(pombo.url, { query: { instance_id: id, subscriber: 'w', events: 'CONTACTS_UPSERT', max_in_flight: '10' }, headers, autoAck: true });
    await ingest(pombo, name, 6);
    await messages.waitFrames(6);
    await messages.close(); // unacknowledged: the six wait for a connection that wants them
    const wanted = await ingest(pombo, name, 10, 'CONTACTS_UPSERT');
    await eventually(() => contacts.frames.length === 10, `the ten contacts arrive (got ${contacts.frames.length})`, 5_000);
    assert.deepEqual(contacts.frames.map((frame) => frame.id), wanted);
    await contacts.close();
  }),
);
