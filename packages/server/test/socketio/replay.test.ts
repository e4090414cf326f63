import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../helpers/pombo-harness.ts';
import { ingest, namespaceUrl, numbered, pomboForFile, withPombo, type Received } from './socket-helpers.ts';

const shared = pomboForFile();

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const numbers = (items: Received[]): number[] => items.map((item) => item.payload.data.n as number);

/** Ingests numbered messages `from`…`to` in batches of `size`, one request after the other. */
async function produce(instance: string, from: number, to: number, size: number): Promise<void> {
  for (let n = from; n <= to; n += size) await ingest(shared.pombo, instance, numbered(n, Math.min(size, to - n + 1)));
}

test('auth.lastEventId replays the missed events, then live ones, with no gap and no duplicate while events keep coming', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const { token } = await pombo.sandbox(alice, { websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } });
  await pombo.sandbox(bob, { websocket: { enabled: true } });

  const first = await clients.connect(namespaceUrl(pombo, alice), { auth: { apikey: token } });
  await produce(alice, 1, 5, 5);
  const fifth = await clients.waitFor(first, 'message 5', (item) => item.payload.data.n === 5);
  first.close();

  // Missed while away: more than one page of the log, among events of another instance and of unselected kinds.
  await produce(alice, 6, 1005, 1000);
  await ingest(pombo, bob, numbered(1, 10));
  await ingest(pombo, alice, [{ event: 'CONTACTS_UPSERT', data: [{ id: 'c' }] }]);

  const producing = produce(alice, 1006, 1305, 20);
  const second = clients.open(namespaceUrl(pombo, alice), { auth: { apikey: token, lastEventId: fifth.payload.id } });
  await producing;
  await clients.waitFor(second, 'message 1305', (item) => item.payload.data.n === 1305, 20_000);

  assert.deepEqual(numbers(clients.received(second)), range(6, 1305));
  assert.ok(clients.received(second).every((item) => item.name === 'messages.upsert' && item.payload.instance === alice));
});

test('on "/", auth.offset (socket.io\'s documented name) replays what the global key missed, with the same streams as live', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  await pombo.sandbox(alice, { websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } });
  await pombo.sandbox(bob);

  const first = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey } });
  await produce(alice, 1, 1, 1);
  const one = await clients.waitFor(first, 'message 1', (item) => item.name === alice);
  first.close();

  await produce(alice, 2, 4, 3);
  await ingest(pombo, bob, numbered(100, 3));
  const second = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey, offset: one.payload.id } });
  await produce(alice, 5, 6, 1);
  await clients.waitFor(second, 'message 6', (item) => item.payload.data.n === 6);

  // Bob has no websocket config and global events are off: none of his events is replayed.
  assert.deepEqual(clients.received(second).map((item) => `${item.name}:${item.payload.data.n}`), range(2, 6).map((n) => `${alice}:${n}`));
});

test('with WEBSOCKET_GLOBAL_EVENTS=true, a replay on "/" sends each event under the names live delivery uses: instance, dotted name, "*"', async () => {
  await withPombo({ WEBSOCKET_GLOBAL_EVENTS: 'true' }, async (pombo, clients) => {
    const alice = uniqueName('alice');
    await pombo.sandbox(alice);
    const live = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey } });
    const [firstId] = await ingest(pombo, alice, numbered(1, 3));
    await clients.waitFor(live, 'message 3 under "*"', (item) => item.name === '*' && item.payload.data.n === 3);

    // Messages 2 and 3 come from the log, message 4 live.
    const reconnected = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey, lastEventId: firstId } });
    await ingest(pombo, alice, numbered(4, 1));
    for (const socket of [live, reconnected]) {
      await clients.waitFor(socket, 'message 4 under "*"', (item) => item.name === '*' && item.payload.data.n === 4);
    }

    const named = (socket: typeof live, from: number) =>
      clients.received(socket).filter((item) => item.payload.data.n >= from).map((item) => `${item.name}:${item.payload.data.n}`);
    const expected = [2, 3, 4].flatMap((n) => [`${alice}:${n}`, `messages.upsert:${n}`, `*:${n}`]);
    assert.deepEqual(named(live, 2), expected);
    assert.deepEqual(named(reconnected, 0), expected);
  });
});

test('an unknown lastEventId, or one of another instance, is refused with a clear connect_error that does not tell them apart', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const { token } = await pombo.sandbox(alice, { websocket: { enabled: true } });
  await pombo.sandbox(bob);
  const [bobEvent] = await ingest(pombo, bob, numbered(1, 1));

  const unknown = await clients.refused(namespaceUrl(pombo, alice), { auth: { apikey: token, lastEventId: 'evt_01ZZZZZZZZZZZZZZZZZZZZZZZZ' } });
  assert.equal(unknown.data?.code, 'POMBO_ERR_VALIDATION');
  assert.match(unknown.message, /auth\.lastEventId "evt_01Z+" is not in the event log of ".*reconnect without it/);

  // An instance token learns nothing of another instance's event ids: the answer is the unknown one's.
  const foreign = await clients.refused(namespaceUrl(pombo, alice), { auth: { apikey: token, lastEventId: bobEvent } });
  assert.equal(foreign.data?.code, 'POMBO_ERR_VALIDATION');
  assert.equal(foreign.message, unknown.message.replace('evt_01ZZZZZZZZZZZZZZZZZZZZZZZZ', bobEvent as string));

  const malformed = await clients.refused(namespaceUrl(pombo, alice), { auth: { apikey: token, lastEventId: 42 } });
  assert.match(malformed.message, /auth\.lastEventId must be the id of the last event you received/);
});

/**
 * An instance with events 1…601, of which a first socket saw event 1, and `batches` to commit while a
 * second socket's replay reads the log: one batch per read of the instance's events (in appends of up
 * to 500), after the page was read. The second socket waits for event `last`, then for one more, live.
 * Returns the numbers it received.
 */
async function replayCommitting(batches: Array<Array<{ data: unknown }>>, last: number): Promise<number[]> {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const { token } = await pombo.sandbox(alice, { websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } });
  const first = await clients.connect(namespaceUrl(pombo, alice), { auth: { apikey: token } });
  await produce(alice, 1, 1, 1);
  const one = await clients.waitFor(first, 'message 1', (item) => item.payload.data.n === 1);
  first.close();
  await produce(alice, 2, 601, 600);
  const { store, instances } = pombo.pombo.context;
  const read = store.read.bind(store);
  store.read = async (query) => {
    const page = await read(query);
    const batch = query.instanceId === (instances.find(alice)?.id ?? '') ? batches.shift() : undefined;
    for (let start = 0; batch && start < batch.length; start += 500) {
      await instances.emitMany(instances.get(alice), batch.slice(start, start + 500).map((item) => ({ event: 'MESSAGES_UPSERT' as const, data: item.data })));
    }
    return page;
  };
  try {
    const second = clients.open(namespaceUrl(pombo, alice), { auth: { apikey: token, lastEventId: one.payload.id } });
    await clients.waitFor(second, `message ${last}`, (item) => item.payload.data.n === last);
    await produce(alice, last + 1, last + 1, 1);
    await clients.waitFor(second, `message ${last + 1}`, (item) => item.payload.data.n === last + 1);
    return numbers(clients.received(second));
  } finally {
    store.read = read;
  }
}

test('events committed while the replay reads the log are sent exactly once, from the log or from the live buffer', async () => {
  // Commits land during the replay's reads: after the first page is read (so the next read sees
  // them too), and after the last read (so only the live buffer has them).
  const during = [numbered(602, 10), numbered(612, 5)];
  const received = await replayCommitting(during, 616);
  assert.deepEqual(during, [], 'both batches were committed during the replay');
  assert.deepEqual(received, range(2, 617));
});

test('a replay that falls far behind events committed meanwhile still sends each exactly once (its live buffer keeps only what the log reads will not cover)', async () => {
  // 1,500 events (past the buffer's 1,000) are committed while the replay reads its first page.
  const during = [numbered(602, 1500)];
  const received = await replayCommitting(during, 2101);
  assert.deepEqual(during, [], 'the events were committed during the replay');
  assert.deepEqual(received, range(2, 2102));
});

test('an instance deleted while one of its sockets replays a long backlog: that socket is disconnected too, not left in a room of a deleted instance', async () => {
  const { pombo, clients } = shared;
  const name = uniqueName('gone');
  const { token } = await pombo.sandbox(name, { websocket: { enabled: true } });
  const [first] = await ingest(pombo, name, [{ event: 'MESSAGES_UPSERT', data: { n: 0 } }]);
  // A backlog that takes the replay a while (it waits for the network to take each 256 KiB).
  const blob = 'x'.repeat(20_000);
  for (let batch = 0; batch < 4; batch++) await ingest(pombo, name, Array.from({ length: 250 }, (_, n) => ({ event: 'MESSAGES_UPSERT', data: { n: batch * 250 + n, blob } })));
  const socket = clients.open(namespaceUrl(pombo, name), { auth: { apikey: token, lastEventId: first } });
  const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  assert.equal((await pombo.api('DELETE', `/instance/delete/${name}`)).status, 200);
  const reason = await Promise.race([disconnected, new Promise<undefined>((resolve) => setTimeout(resolve, 5000, undefined))]);
  assert.equal(reason, 'io server disconnect', 'disconnected by the server');
});
