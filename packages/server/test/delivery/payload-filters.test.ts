import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { cleanupRabbit, consume, rabbitmqRequired, rabbitNames, RABBITMQ_URI } from '../brokers/rabbitmq-helpers.ts';
import { connect } from '../realtime/ws-client.ts';
import { Clients, namespaceUrl } from '../socketio/socket-helpers.ts';
import { receiverFor } from '../webhook/http-receiver.ts';
import { emit, type TestEvent, type TestInstance } from '../webhook/webhook-fixtures.ts';

const rabbit = await rabbitmqRequired();
const names = rabbitNames();

const DIRECT = '5511999990001@s.whatsapp.net';
const GROUP = '120363000000000001@g.us';
const text = (remoteJid: string, fromMe: boolean, id: string, messageType = 'conversation'): TestEvent => ({
  event: 'MESSAGES_UPSERT',
  data: { key: { remoteJid, fromMe, id }, message: { conversation: id }, messageType },
});
/** Received direct, sent direct, received in a group (an image), and a connection update (no message fields). */
const MIX: TestEvent[] = [
  text(DIRECT, false, 'in-direct'),
  text(DIRECT, true, 'out-direct'),
  text(GROUP, false, 'in-group', 'imageMessage'),
  { event: 'CONNECTION_UPDATE', data: { state: 'open' } },
];
const labelOf = (body: any): string => body.data?.key?.id ?? body.event;

let pombo: Harness;
const created: string[] = [];
before(async () => {
  pombo = await startPombo(
    rabbit.skip ? {} : { RABBITMQ_ENABLED: 'true', RABBITMQ_URI, RABBITMQ_EXCHANGE_NAME: names.exchange, RABBITMQ_PREFIX_KEY: names.prefix },
  );
});
after(async () => {
  await pombo.close();
  if (!rabbit.skip) await cleanupRabbit(names.exchange, names.prefix, created);
});

async function instance(channels: Record<string, unknown> = {}): Promise<TestInstance> {
  const name = uniqueName('flt');
  const response = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', ...channels });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  created.push(name);
  return { name, id: response.body.instance.instanceId };
}

test('webhook: the filter skips events, counts them, moves the cursor past them, and a replay under another filter sends them', async (t) => {
  const receiver = await receiverFor(t);
  const inst = await instance({ webhook: { url: receiver.url, filter: { fromMe: false, chats: 'direct' } } });
  const ids = await emit(pombo, inst, MIX);
  // INSTANCE_CREATE too: the webhook is set in the create body, and the filter lets through what is not a message.
  await eventually(() => receiver.accepted().length === 3, 'the three events the filter lets through');
  await pombo.pombo.context.dispatcher.whenIdle(`webhook:${inst.id}`);
  assert.deepEqual(receiver.accepted().map((r) => labelOf(r.json)).sort(), ['connection.update', 'in-direct', 'instance.create']);
  const found = (await pombo.api('GET', `/webhook/find/${inst.name}`)).body;
  assert.deepEqual(found.filter, { fromMe: false, chats: 'direct' });
  assert.equal(found.state.filtered, 2, 'the skipped events are counted');
  await eventually(async () => (await pombo.api('GET', `/webhook/find/${inst.name}`)).body.state.backlog === 0, 'the cursor past the skipped events');
  const log = (await pombo.api('GET', `/events/${inst.name}`)).body;
  const logged = JSON.stringify(log);
  for (const id of ids) assert.ok(logged.includes(id), `the log keeps ${id}`);
  const metrics = (await pombo.api('GET', '/metrics')).body as string;
  assert.match(metrics, new RegExp(`pombo_events_filtered_total\\{channel="webhook",instance_name="${inst.name}"\\} 2`));

  const changed = await pombo.api('POST', `/webhook/set/${inst.name}`, { webhook: { url: receiver.url, filter: { chats: 'groups' } } });
  assert.equal(changed.status, 201, JSON.stringify(changed.body));
  const replay = await pombo.api('POST', `/webhook/replay/${inst.name}`, { from: new Date(Date.now() - 60_000).toISOString() });
  assert.equal(replay.status, 202);
  assert.equal(replay.body.selected, 3, 'the range replay applies the current filter: INSTANCE_CREATE, the group message and the connection update');
  await eventually(() => receiver.accepted().some((r) => labelOf(r.json) === 'in-group'), 'the group message, filtered before, replayed');
});

test('webhook endpoint: each endpoint has its own filter, and a bad one is a 400 naming the field', async (t) => {
  const groups = await receiverFor(t);
  const sent = await receiverFor(t);
  const inst = await instance();
  assert.equal((await pombo.api('POST', `/webhook/endpoints/${inst.name}`, { url: groups.url, filter: { chats: 'groups' } })).status, 201);
  assert.equal((await pombo.api('POST', `/webhook/endpoints/${inst.name}`, { url: sent.url, filter: { fromMe: true }, events: ['MESSAGES_UPSERT'] })).status, 201);
  await emit(pombo, inst, MIX);
  await eventually(() => groups.accepted().length === 2 && sent.accepted().length === 1, 'each endpoint its events');
  assert.deepEqual(groups.accepted().map((r) => labelOf(r.json)).sort(), ['connection.update', 'in-group']);
  assert.deepEqual(sent.accepted().map((r) => labelOf(r.json)), ['out-direct']);
  const bad = await pombo.api('POST', `/webhook/endpoints/${inst.name}`, { url: groups.url, filter: { chats: 'group' } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.response.message[0], /filter\.chats must be "groups" or "direct"/);
});

test('rabbitmq: the filter applies to the instance\'s publishing and is counted in find', rabbit, async () => {
  const inst = await instance();
  const consumer = await consume(names.exchange, `${names.prefix}.${inst.name}.#`);
  try {
    const set = await pombo.api('POST', `/rabbitmq/set/${inst.name}`, { rabbitmq: { enabled: true, events: [], filter: { messageType: ['imageMessage'] } } });
    assert.equal(set.status, 201, JSON.stringify(set.body));
    await emit(pombo, inst, MIX);
    await eventually(() => consumer.received.length === 2, 'the image and the connection update');
    await pombo.pombo.context.dispatcher.whenIdle(`rabbitmq:${inst.id}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(consumer.received.map((r) => labelOf(r.body)).sort(), ['connection.update', 'in-group']);
    const found = (await pombo.api('GET', `/rabbitmq/find/${inst.name}`)).body;
    assert.deepEqual(found.filter, { messageType: ['imageMessage'] });
    assert.equal(found.state.filtered, 2);
    assert.equal(found.state.backlog, 0);
  } finally {
    await consumer.close();
  }
});

test('realtime: the instance\'s filter applies to live events and to a subscriber catching up from the log', async () => {
  const inst = await instance();
  const set = await pombo.api('POST', `/realtime/set/${inst.name}`, { realtime: { filter: { fromMe: true } } });
  assert.equal(set.status, 201, JSON.stringify(set.body));
  const live = await connect(pombo.url, { query: { instance_id: inst.name }, headers: { apikey: pombo.apiKey }, autoAck: true });
  try {
    const [first] = await emit(pombo, inst, [{ event: 'CONNECTION_UPDATE', data: { state: 'connecting' } }]);
    await live.waitFrames(1);
    const [, outDirect, , connected] = await emit(pombo, inst, MIX);
    await live.waitFrames(3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(live.frames.map((frame) => frame.id), [first, outDirect, connected], 'only what the instance sent, and the connection update');
    const late = await connect(pombo.url, { query: { instance_id: inst.name, subscriber: 'late', last_event_id: first as string }, headers: { apikey: pombo.apiKey }, autoAck: true });
    try {
      await late.waitFrames(2);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(late.frames.map((frame) => frame.id), [outDirect, connected], 'caught up from the log, filtered the same way');
    } finally {
      await late.close();
    }
    const found = (await pombo.api('GET', `/realtime/find/${inst.name}`)).body;
    assert.deepEqual(found.filter, { fromMe: true });
    assert.equal(found.subscribers.find((s: { subscriber: string }) => s.subscriber === 'default')?.filtered, 2);
  } finally {
    await live.close();
  }
});

test('socket.io: the instance\'s filter applies to its namespace and is counted in find', async () => {
  const inst = await instance({ websocket: { enabled: true, events: [], filter: { messageType: ['conversation'] } } });
  const clients = new Clients();
  try {
    const socket = await clients.connect(namespaceUrl(pombo, inst.name), { auth: { apikey: pombo.apiKey } });
    await emit(pombo, inst, MIX);
    await clients.waitFor(socket, 'the connection update', (item) => item.name === 'connection.update');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const got = clients.received(socket).map((item) => labelOf(item.payload));
    assert.deepEqual(got.sort(), ['connection.update', 'in-direct', 'out-direct']);
    const found = (await pombo.api('GET', `/websocket/find/${inst.name}`)).body;
    assert.equal(found.state.filtered, 1);
    const counted = new RegExp(`pombo_events_filtered_total\\{channel="websocket",instance_name="${inst.name}"\\} 1\n`);
    assert.match((await pombo.api('GET', '/metrics')).body as string, counted);
    assert.match((await pombo.api('GET', '/metrics')).body as string, counted, 'a second scrape counts nothing twice');
  } finally {
    clients.closeAll();
  }
});
