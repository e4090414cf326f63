import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, uniqueName, withPombo } from '../helpers/pombo-harness.ts';
import { connect, ingest, type Frame, type RealtimeClient } from './ws-client.ts';

const ids = (from: RealtimeClient | Frame[]): string[] => (Array.isArray(from) ? from : from.frames).map((frame) => frame.id);

/** An event id made at `ms` (a ULID's first ten characters are its time). */
function idAt(ms: number): string {
  const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = '';
  for (let i = 0; i < 10; i++, ms = Math.floor(ms / 32)) time = crockford[ms % 32] + time;
  return `evt_${time}${'0'.repeat(16)}`;
}

test('two connections with one subscriber name share the events; two names each receive every event', () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('share');
    await pombo.sandbox(name);
    const open = (subscriber: string) =>
      connect(pombo.url, { query: { instance_id: name, subscriber }, headers: { apikey: pombo.apiKey }, autoAck: true });
    const [workerA, workerB, audit] = await Promise.all([open('workers'), open('workers'), open('audit')]);
    // A connection is attached to its subscriber just after its upgrade: events wait until both workers are in.
    const attached = async (subscriber: string) =>
      ((await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers as Array<{ subscriber: string; connections: unknown[] }>).find(
        (entry) => entry.subscriber === subscriber,
      )?.connections.length ?? 0;
    await eventually(async () => (await attached('workers')) === 2 && (await attached('audit')) === 1, 'every connection attached');
    const sent = await ingest(pombo, name, 40);
    await audit.waitFrames(40);
    await eventually(() => workerA.frames.length + workerB.frames.length >= 40, 'the shared events');
    assert.deepEqual(ids(audit), sent, 'the other name gets every event, in order');
    assert.ok(workerA.frames.length > 0 && workerB.frames.length > 0, 'both connections of one name get work');
    assert.deepEqual([...ids(workerA), ...ids(workerB)].sort(), [...sent].sort(), 'each event goes to one connection of the name');
    await Promise.all([workerA.close(), workerB.close(), audit.close()]);
  }),
);

test('a subscriber resumes at its durable cursor; an earlier last_event_id moves it back, a later one does not skip unacked events', () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('resume');
    const { token } = await pombo.sandbox(name);
    const open = (query: Record<string, string> = {}, autoAck = true) =>
      connect(pombo.url, { query: { instance_id: name, ...query }, headers: { 'x-instance-token': token }, autoAck });
    const first = await open();
    const sent = await ingest(pombo, name, 3);
    await first.waitFrames(3);
    await eventually(async () => (await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers[0]?.backlog === 0, 'acks recorded');
    await first.close();
    const missed = await ingest(pombo, name, 2);
    const plain = await open();
    assert.deepEqual(ids(await plain.waitFrames(2)), missed, 'what happened while away, nothing acked before');
    await plain.close();
    const back = await open({ last_event_id: sent[0]! });
    assert.deepEqual(ids(await back.waitFrames(4)), [...sent.slice(1), ...missed], 'from last_event_id + 1');
    await back.close();
    const unacked = await ingest(pombo, name, 1);
    const forward = await open({ last_event_id: unacked[0]! });
    assert.deepEqual(ids(await forward.waitFrames(1)), unacked, 'a later last_event_id cannot skip an unacked event');
    await forward.close();
  }),
);

test('a second connection of a live subscriber with an earlier last_event_id gets those events replayed', () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('replay');
    await pombo.sandbox(name);
    const open = (query: Record<string, string> = {}) =>
      connect(pombo.url, { query: { instance_id: name, ...query }, headers: { apikey: pombo.apiKey }, autoAck: true });
    const live = await open();
    const sent = await ingest(pombo, name, 4);
    await live.waitFrames(4);
    await eventually(async () => (await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers[0]?.backlog === 0, 'acks recorded');
    const late = await open({ last_event_id: sent[1]! });
    await eventually(() => live.frames.length + late.frames.length >= 6, 'the replayed events');
    assert.deepEqual([...ids(live).slice(4), ...ids(late)].sort(), sent.slice(2).sort());
    await Promise.all([live.close(), late.close()]);
  }),
);

test('a last_event_id older than the retained log gets a Gap event (with an id, before any other) and then every retained event', () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('gap');
    const { id } = await pombo.sandbox(name);
    const retained = await ingest(pombo, name, 2);
    const expired = idAt(Date.now() - 30 * 24 * 3_600_000);
    const client = await connect(pombo.url, { query: { instance_id: name, last_event_id: expired, events: 'Message' }, headers: { apikey: pombo.apiKey }, autoAck: true });
    const [gap, ...rest] = await client.waitFrames(3);
    assert.equal(gap!.type, 'Gap');
    assert.match(gap!.id, /^gap_/);
    assert.equal(gap!.instance_id, id);
    assert.equal(gap!.data.reason, 'retention');
    assert.equal(gap!.data.last_event_id, expired);
    assert.deepEqual(rest.map((frame) => frame.id), retained);
    await client.close();
    const unknown = await connect(pombo.url, { query: { instance_id: name, last_event_id: 'evt_not-a-real-id', subscriber: 'other' }, headers: { apikey: pombo.apiKey } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(unknown.frames.length, 0, 'an unknown recent id is ignored: a new subscriber starts at the head');
    await unknown.close();
  }),
);

test('a subscriber whose position fell out of retention gets a Gap event, then the retained events', () =>
  // EVENTS_RETENTION_HOURS=0.001 keeps events 3.6 s and prunes every second.
  withPombo({ EVENTS_RETENTION_HOURS: '0.001' }, async (pombo) => {
    const name = uniqueName('expired');
    await pombo.sandbox(name);
    const open = () => connect(pombo.url, { query: { instance_id: name, events: 'Message' }, headers: { apikey: pombo.apiKey }, autoAck: true });
    const first = await open();
    const [seen] = await ingest(pombo, name, 1);
    await first.waitFrames(1);
    await first.close();
    const [lost] = await ingest(pombo, name, 1);
    await eventually(async () => (await pombo.api('GET', `/events/${name}`)).body.events.every((event: { id: string }) => event.id !== lost), 'the pruning', 10_000, 200);
    const [kept] = await ingest(pombo, name, 1);
    const back = await open();
    const [gap, next] = await back.waitFrames(2);
    assert.equal(gap!.type, 'Gap');
    assert.equal(gap!.data.last_event_id, null);
    assert.deepEqual([next!.id], [kept], `neither ${seen} (acked) nor ${lost} (pruned) comes back`);
    await back.close();
  }),
);

test('a subscriber holds at most REALTIME_MAX_IN_FLIGHT unacked events; the rest follow, in order, as it acks', () =>
  withPombo({ REALTIME_MAX_IN_FLIGHT: '3' }, async (pombo) => {
    const name = uniqueName('window');
    await pombo.sandbox(name);
    const client = await connect(pombo.url, { query: { instance_id: name }, headers: { apikey: pombo.apiKey } });
    const sent = await ingest(pombo, name, 10);
    await client.waitFrames(3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(client.frames.length, 3, 'no more than the window before an ack');
    // Acked one at a time, the oldest first: each ack lets one more through, until all ten came.
    for (let acked = 0; acked < 10; acked++) {
      await client.waitFrames(Math.min(10, acked + 3));
      client.ack(client.frames[acked]!.id);
    }
    assert.deepEqual(ids(client), sent, 'every event once, in log order');
    await eventually(async () => (await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers[0]?.backlog === 0, 'the floor at the head');
    const [later] = await ingest(pombo, name, 1);
    assert.equal((await client.waitFrames(11))[10]!.id, later, 'live again after catching up');
    await client.close();
  }),
);

test('the unacked events of a connection that closes go at once to the other connection of its subscriber', () =>
  withPombo({}, async (pombo) => {
    const name = uniqueName('handover');
    await pombo.sandbox(name);
    const open = (autoAck: boolean) => connect(pombo.url, { query: { instance_id: name, subscriber: 'pair' }, headers: { apikey: pombo.apiKey }, autoAck });
    const silent = await open(false);
    const acking = await open(true);
    const sent = await ingest(pombo, name, 6);
    await eventually(() => silent.frames.length + acking.frames.length >= 6, 'the shared events');
    assert.ok(silent.frames.length > 0, 'the silent connection got some');
    const held = ids(silent);
    await silent.close();
    // The default ack wait is 30 s: what arrives now came from the close, not from a timeout.
    await eventually(() => held.every((id) => ids(acking).includes(id)), 'the closed connection’s events on the other one', 3000);
    assert.deepEqual([...new Set(ids(acking))].sort(), [...sent].sort());
    await acking.close();
  }),
);

test("an unacknowledged event of a connection that closes waits for the subscriber's next connection that asks for its type, even when the others do not", () =>
  withPombo({ REALTIME_ACK_WAIT_MS: '60000' }, async (pombo) => {
    const name = uniqueName('owed');
    const { token } = await pombo.sandbox(name);
    const open = (events?: string) =>
      connect(pombo.url, { query: { instance_id: name, subscriber: 'workers', ...(events ? { events } : {}) }, headers: { 'x-instance-token': token } });
    const everything = await open();
    const messagesOnly = await open('Message');
    await eventually(async () => (await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers[0]?.connections.length === 2, 'both attached');
    const [qr] = await ingest(pombo, name, 1, 'QRCODE_UPDATED');
    assert.deepEqual(ids(await everything.waitFrames(1)), [qr]);
    // It closes before acknowledging; the connection left does not ask for QR codes.
    await everything.close();
    await eventually(async () => (await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers[0]?.connections.length === 1, 'one left');
    assert.equal((await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers[0].backlog, 1, 'still owed, not dropped');
    const again = await open();
    assert.deepEqual(ids(await again.waitFrames(1)), [qr], 'the next connection that asks for it gets it');
    assert.equal(messagesOnly.frames.length, 0);
    await Promise.all([again.close(), messagesOnly.close()]);
  }),
);

test('an event whose connections close without acknowledging it, one after another, is dead-lettered after REALTIME_MAX_DELIVER sends, not sent for ever', () =>
  withPombo({ REALTIME_ACK_WAIT_MS: '60000', REALTIME_MAX_DELIVER: '2' }, async (pombo) => {
    const name = uniqueName('poison');
    const { id: instanceId, token } = await pombo.sandbox(name);
    const open = () => connect(pombo.url, { query: { instance_id: name }, headers: { 'x-instance-token': token } });
    const attached = async () => (await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers[0]?.connections.length === 1;
    const first = await open();
    await eventually(attached, 'attached');
    const [poison] = await ingest(pombo, name, 1);
    // A client that crashes on this payload: it takes it and its connection closes, again and again.
    assert.deepEqual(ids(await first.waitFrames(1)), [poison]);
    await first.close();
    const second = await open();
    assert.deepEqual(ids(await second.waitFrames(1)), [poison], 'sent a second time to the next connection');
    await second.close();
    const third = await open();
    await eventually(attached, 'the third connection attached');
    const [next] = await ingest(pombo, name, 1);
    assert.deepEqual(ids(await third.waitFrames(1)), [next], 'not sent a third time: the next event comes');
    const deadLetters = await pombo.pombo.context.store.listDeliveries({ destination: `realtime:${instanceId}:default`, status: 'failed', limit: 10 });
    assert.deepEqual(deadLetters.map((record) => record.eventId), [poison], 'dead-lettered for the subscriber');
    await third.close();
  }),
);

test('twenty subscribers coming back to a backlog at once, through small windows, each get every event once, in order', () =>
  withPombo({ REALTIME_MAX_IN_FLIGHT: '16' }, async (pombo) => {
    const name = uniqueName('comeback');
    await pombo.sandbox(name);
    const subscribers = Array.from({ length: 20 }, (_, n) => `worker-${n}`);
    const open = () =>
      Promise.all(subscribers.map((subscriber) => connect(pombo.url, { query: { instance_id: name, subscriber }, headers: { apikey: pombo.apiKey }, autoAck: true })));
    const first = await open();
    await ingest(pombo, name, 1);
    await Promise.all(first.map((client) => client.waitFrames(1)));
    await Promise.all(first.map((client) => client.close()));
    // Three pages' worth of backlog for windows of 16: the subscribers read it in many small steps, not in lockstep.
    const backlog = [...(await ingest(pombo, name, 400)), ...(await ingest(pombo, name, 400))];
    const again = await open();
    await Promise.all(again.map((client) => client.waitFrames(backlog.length, 30_000)));
    for (const client of again) assert.deepEqual(ids(client), backlog);
    await Promise.all(again.map((client) => client.close()));
  }),
);
