import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { eventually, uniqueName, withPombo } from '../helpers/pombo-harness.ts';
import { connect, ingest } from './ws-client.ts';
import { managerCookie } from '../helpers/manager-session.ts';

const number = () => `5511${randomInt(10_000_000, 99_999_999)}`;

test('frames are events only: {id, type, instance_id, created_at, data}, data being the webhook payload; liveness is ws ping', () =>
  withPombo({ REALTIME_PING_INTERVAL_MS: '100' }, async (pombo) => {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const bobNumber = number();
    await pombo.sandbox(alice);
    const { id: bobId, token: bobToken } = await pombo.sandbox(bob, { number: bobNumber });
    const client = await connect(pombo.url, { query: { instance_id: bobId }, headers: { 'x-instance-token': bobToken }, autoAck: true });
    let pings = 0;
    client.ws.on('ping', () => pings++);
    await pombo.api('POST', `/message/sendText/${alice}`, { number: bobNumber, text: 'olá' });
    const [frame] = await client.waitFrames(1);
    assert.deepEqual(Object.keys(frame!).sort(), ['created_at', 'data', 'id', 'instance_id', 'type']);
    assert.equal(frame!.type, 'Message');
    assert.equal(frame!.instance_id, bobId);
    assert.match(frame!.id, /^evt_/);
    assert.equal(frame!.data.id, frame!.id);
    assert.equal(frame!.data.event, 'messages.upsert');
    assert.equal(frame!.data.instance, bob);
    assert.equal(frame!.data.data.message.conversation, 'olá');
    assert.equal(frame!.created_at, frame!.data.date_time);
    await eventually(() => pings >= 2, 'WebSocket pings');
    assert.equal(client.frames.length, 1, 'nothing but events arrives as a frame');
    await client.close();
  }),
);

test('events filter by seed-000 type and by canonical name, as a comma list or repeated parameter', () =>
  withPombo({}, async (pombo) => {
    const alice = uniqueName('alice');
    const bobNumber = number();
    const { id } = await pombo.sandbox(alice);
    await pombo.sandbox(uniqueName('bob'), { number: bobNumber });
    const byType = await connect(pombo.url, { query: { instance_id: alice, events: 'Message,ReadReceipt' }, headers: { apikey: pombo.apiKey }, autoAck: true });
    const repeated = await connect(pombo.url, { query: { instance_id: id, events: ['messages.update', 'Connected'], subscriber: 'second' }, headers: { apikey: pombo.apiKey }, autoAck: true });
    await pombo.api('POST', `/message/sendText/${alice}`, { number: bobNumber, text: 'hi' });
    const frames = await byType.waitFrames(3);
    assert.deepEqual(frames.map((frame) => `${frame.type}/${frame.data.event}`), ['Message/send.message', 'ReadReceipt/messages.update', 'ReadReceipt/messages.update']);
    await pombo.api('DELETE', `/instance/logout/${alice}`);
    await pombo.api('GET', `/instance/connect/${alice}`);
    const more = await repeated.waitFrames(3);
    assert.deepEqual(more.map((frame) => frame.type), ['ReadReceipt', 'ReadReceipt', 'Connected'], 'Disconnected is a CONNECTION_UPDATE that Connected does not include');
    assert.equal(byType.frames.length, 3);
    await Promise.all([byType.close(), repeated.close()]);
  }),
);

test("a sandbox logout sends status.instance beside connection.update: a STATUS_INSTANCE subscription gets it (type STATUS_INSTANCE), and not the connection.update", () =>
  withPombo({}, async (pombo) => {
    const alice = uniqueName('alice');
    await pombo.sandbox(alice);
    const status = await connect(pombo.url, { query: { instance_id: alice, events: 'STATUS_INSTANCE' }, headers: { apikey: pombo.apiKey }, autoAck: true });
    const dotted = await connect(pombo.url, { query: { instance_id: alice, events: 'status.instance,Disconnected', subscriber: 'second' }, headers: { apikey: pombo.apiKey }, autoAck: true });
    await pombo.api('DELETE', `/instance/logout/${alice}`);
    const [closed] = await status.waitFrames(1);
    assert.equal(closed!.type, 'STATUS_INSTANCE', 'no realtime word for it: its key');
    assert.equal(closed!.data.event, 'status.instance');
    assert.deepEqual([closed!.data.data.instance, closed!.data.data.status, closed!.data.data.disconnectionReasonCode], [alice, 'closed', 401]);
    const both = await dotted.waitFrames(2);
    assert.deepEqual(both.map((frame) => `${frame.type}/${frame.data.event}`), ['STATUS_INSTANCE/status.instance', 'Disconnected/connection.update']);
    await pombo.api('GET', `/instance/connect/${alice}`);
    await eventually(() => dotted.frames.length === 2 && status.frames.length === 1, 'nothing more');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(status.frames.length, 1, 'the connection.update of the logout and of the connect are not STATUS_INSTANCE');
    await Promise.all([status.close(), dotted.close()]);
  }),
);

test('an unacked event comes again on the live connection after the ack wait; acks are per event, in any order, under any of the three keys', () =>
  withPombo({ REALTIME_ACK_WAIT_MS: '300' }, async (pombo) => {
    const name = uniqueName('acks');
    const { token } = await pombo.sandbox(name);
    const client = await connect(pombo.url, { query: { instance_id: name }, headers: { authorization: `Bearer ${token}` } });
    const ids = await ingest(pombo, name, 5);
    await client.waitFrames(5);
    // Out of order, skipping the second; three wire spellings of the ack; junk and unknown ids are ignored.
    client.ack(ids[4]!, 'id');
    client.ack(ids[2]!, 'eventId');
    client.ws.send('not json');
    client.ws.send(JSON.stringify({ type: 'ack', event_id: 'evt_unknown' }));
    client.ws.send(JSON.stringify({ type: 'ack', event_id: '' }));
    client.ack(ids[0]!);
    client.ack(ids[3]!);
    const again = await client.waitFrames(6);
    assert.equal(again[5]!.id, ids[1], 'only the unacked event is redelivered');
    client.ack(ids[1]!);
    await eventually(async () => (await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers[0]?.backlog === 0, 'the cursor at the head');
    assert.equal(client.frames.length, 6);
    await client.close();
    const resumed = await connect(pombo.url, { query: { instance_id: name }, headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(resumed.frames.length, 0, 'everything acked is not sent again after a reconnect');
    await resumed.close();
  }),
);

test('after REALTIME_MAX_DELIVER unacked deliveries an event is dead-lettered for that subscriber', () =>
  withPombo({ REALTIME_ACK_WAIT_MS: '100', REALTIME_MAX_DELIVER: '3' }, async (pombo) => {
    const name = uniqueName('dlq');
    const { token } = await pombo.sandbox(name);
    const client = await connect(pombo.url, { query: { instance_id: name, instance_token: token } });
    const [id] = await ingest(pombo, name, 1);
    await client.waitFrames(3);
    const find = await eventually(async () => {
      const body = (await pombo.api('GET', `/realtime/find/${name}`)).body;
      return body.subscribers[0]?.deadLettered === 1 && body.subscribers[0].backlog === 0 && body;
    }, 'a dead letter, and the cursor past it');
    assert.equal(find.subscribers[0].delivered, 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(client.frames.map((frame) => frame.id), [id, id, id]);
    await client.close();
  }),
);

test("a subscriber's outcomes are the dispatcher's: acks and redeliveries in pombo_deliveries_total, its dead letter in the manager's list", () =>
  withPombo({ REALTIME_ACK_WAIT_MS: '100', REALTIME_MAX_DELIVER: '2' }, async (pombo) => {
    const name = uniqueName('outcomes');
    const { token } = await pombo.sandbox(name);
    const client = await connect(pombo.url, { query: { instance_id: name, instance_token: token, subscriber: 'billing' } });
    const [acked, ignored] = await ingest(pombo, name, 2);
    await client.waitFrames(2);
    client.ack(acked!);
    await eventually(async () => (await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers[0]?.deadLettered === 1, 'the dead letter');
    const metrics = (await pombo.api('GET', '/metrics')).body as string;
    const count = (outcome: string) => Number(new RegExp(`pombo_deliveries_total\\{channel="realtime",instance_name="${name}",outcome="${outcome}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    // One ack; the ignored event timed out twice: a retry, then its dead letter; the feed's hand-offs are not counted.
    assert.deepEqual([count('delivered'), count('retry'), count('dead')], [1, 1, 1]);

    const cookie = await managerCookie(pombo);
    const list: string = await eventually(async () => {
      const text = await (await fetch(`${pombo.url}/manager/fragments/dead-letters`, { headers: { cookie } })).text();
      return text.includes(`data-dead-letter="${ignored}"`) ? text : undefined;
    }, 'the dead letter in the manager');
    assert.match(list, new RegExp(`<code>realtime:[^<]+:billing</code>`));
    assert.match(list, /no ack within 100 ms \(sent 2 times: REALTIME_MAX_DELIVER\)/);
    assert.match(list, /reconnecting with last_event_id/, 'no replay button: the client resumes');
    assert.doesNotMatch(list, new RegExp(`data-dead-letter="${acked}"`));
    await client.close();
  }),
);

test('a client frame the protocol forbids closes the connection with its code: 1009 past 64 KiB, 1007 for text that is not UTF-8, 1002 for an unmasked frame, 1008 past 16,384 fragments', () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('frames');
    await pombo.sandbox(name);
    const open = (subscriber: string) => connect(pombo.url, { query: { instance_id: name, subscriber }, headers: { apikey: pombo.apiKey }, autoAck: true });
    const big = await open('big');
    // A frame of exactly 64 KiB is allowed: the connection still gets the event that follows it.
    big.ws.send('x'.repeat(64 * 1024));
    await ingest(pombo, name, 1);
    await big.waitFrames(1);
    big.ws.send('x'.repeat(64 * 1024 + 1));
    assert.equal((await big.closed).code, 1009);
    const text = await open('text');
    text.ws.send(Buffer.from([0x7b, 0xff, 0x7d]), { binary: false });
    assert.equal((await text.closed).code, 1007);
    const unmasked = await open('unmasked');
    // A client's frames must be masked: this is a one-byte text frame without a mask, written under the client's framing.
    (unmasked.ws as unknown as { _socket: Socket })._socket.write(Buffer.from([0x81, 0x01, 0x61]));
    assert.equal((await unmasked.closed).code, 1002);
    const fragments = await open('fragments');
    for (let n = 0; n <= 16_384; n++) fragments.ws.send('a', { fin: false });
    assert.equal((await fragments.closed).code, 1008);
  }),
);
