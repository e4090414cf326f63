import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'socket.io-client';
import { uniqueName } from '../helpers/pombo-harness.ts';
import { ingest, pomboForFile, withPombo, type Clients, type Received } from './socket-helpers.ts';

/**
 * Seed 001's client (`io('http://host:8080', {auth: {apikey}})`, `socket.on('<instance>', …)`) with an
 * instance's token: admitted on "/", where it gets its own instance's events, as the global key gets
 * them there, and nothing of any other instance.
 */
const shared = pomboForFile({ WEBSOCKET_GLOBAL_EVENTS: 'true' });

/** The log's events a socket received after the event `marker` (each under every name it went out under), as name and id. */
function after(clients: Clients, socket: Socket, marker: string): Array<{ name: string; id: string; instance: string }> {
  const inbox = clients.received(socket).filter((item: Received) => typeof item.payload?.id === 'string');
  const start = inbox.findIndex((item) => item.payload.id === marker);
  assert.ok(start >= 0, `the marker ${marker} was received`);
  return inbox.slice(start).filter((item) => item.payload.id !== marker).map((item) => ({ name: item.name, id: item.payload.id, instance: item.payload.instance }));
}

/** What the global key's socket on "/" gets of one event in global mode: its instance's name, its dotted name, `*`. */
const globalNames = (instance: string, dotted: string, id: string) => [instance, dotted, '*'].map((name) => ({ name, id, instance }));

test('an instance token on "/" gets its instance\'s events as the global key gets them there, and none of another instance\'s', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const { token: aliceToken } = await pombo.sandbox(alice, { websocket: { enabled: true } });
  await pombo.sandbox(bob, { websocket: { enabled: true } });
  const global = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey } });
  const own = await clients.connect(pombo.url, { auth: { apikey: aliceToken } });
  // Everything before the marker (the instances' creation) may have reached one socket and not the other.
  const [marker] = await ingest(pombo, alice, [{ event: 'CHATS_UPSERT', data: [{ id: 'marker' }] }]);
  await clients.waitFor(global, 'the marker', (item) => item.payload?.id === marker);
  await clients.waitFor(own, 'the marker', (item) => item.payload?.id === marker);

  const [a1] = await ingest(pombo, alice, [{ event: 'MESSAGES_UPSERT', data: { n: 1 } }]);
  const [b1] = await ingest(pombo, bob, [{ event: 'MESSAGES_UPSERT', data: { n: 2 } }]);
  const [a2] = await ingest(pombo, alice, [{ event: 'PRESENCE_UPDATE', data: { id: 'p' } }]);
  const [b2] = await ingest(pombo, bob, [{ event: 'CONTACTS_UPSERT', data: [{ id: 'c' }] }]);
  const [a3] = await ingest(pombo, alice, [{ event: 'MESSAGES_UPSERT', data: { n: 3 } }]);
  // Each socket gets the log in order: once a3 is in, everything before it that was coming has come.
  for (const socket of [global, own]) await clients.waitFor(socket, 'a3 under "*"', (item) => item.name === '*' && item.payload?.id === a3);

  const fromAlice = [
    ...globalNames(alice, 'messages.upsert', a1!),
    ...globalNames(alice, 'presence.update', a2!),
    ...globalNames(alice, 'messages.upsert', a3!),
  ];
  assert.deepEqual(after(clients, own, marker!), fromAlice);
  assert.deepEqual(
    after(clients, global, marker!).filter((item) => item.instance === alice || item.instance === bob),
    [
      ...globalNames(alice, 'messages.upsert', a1!),
      ...globalNames(bob, 'messages.upsert', b1!),
      ...globalNames(alice, 'presence.update', a2!),
      ...globalNames(bob, 'contacts.upsert', b2!),
      ...globalNames(alice, 'messages.upsert', a3!),
    ],
  );
  // The same envelopes, byte for byte.
  const payloads = (socket: Socket) => clients.received(socket).filter((item) => [a1, a2, a3].includes(item.payload?.id));
  assert.deepEqual(payloads(own), payloads(global));

  // The token's socket on "/" is one of its instance's, as its namespace's are.
  const find = await pombo.api('GET', `/websocket/find/${alice}`, undefined, aliceToken);
  assert.equal(find.body.state.connections, 1);
  const listed = pombo.pombo.context.channels.get('websocket')?.clients?.() ?? [];
  assert.deepEqual(listed.filter((client) => client.client === own.id).map((client) => [client.instance, client.detail]), [[alice, 'namespace /']]);
});

test('without WEBSOCKET_GLOBAL_EVENTS, an instance token on "/" gets its instance\'s events under its name, once its config selects them', async () => {
  await withPombo({}, async (pombo, clients) => {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const { token } = await pombo.sandbox(alice, { websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    await pombo.sandbox(bob, { websocket: { enabled: true } });
    const global = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey } });
    const own = await clients.connect(pombo.url, { auth: { apikey: token } });
    const [marker] = await ingest(pombo, alice, [{ event: 'MESSAGES_UPSERT', data: { n: 0 } }]);
    for (const socket of [global, own]) await clients.waitFor(socket, 'the marker', (item) => item.payload?.id === marker);

    const [b1] = await ingest(pombo, bob, [{ event: 'MESSAGES_UPSERT', data: { n: 1 } }]);
    const [a1] = await ingest(pombo, alice, [{ event: 'CONTACTS_UPSERT', data: [{ id: 'not selected' }] }]);
    const [a2] = await ingest(pombo, alice, [{ event: 'MESSAGES_UPSERT', data: { n: 2 } }]);
    for (const socket of [global, own]) await clients.waitFor(socket, 'a2', (item) => item.payload?.id === a2);

    assert.deepEqual(after(clients, own, marker!), [{ name: alice, id: a2, instance: alice }]);
    assert.deepEqual(after(clients, global, marker!), [
      { name: bob, id: b1, instance: bob },
      { name: alice, id: a2, instance: alice },
    ]);
    assert.ok(!clients.received(own).some((item) => item.payload?.id === a1));
    assert.deepEqual(clients.received(own, 'pombo.hint'), [], 'its channel is on: no hint');

    // A token whose instance has its channel off is told so on "/" too (other instances' configs do not matter to it).
    const carol = uniqueName('carol');
    const { token: carolToken } = await pombo.sandbox(carol);
    const off = await clients.connect(pombo.url, { auth: { apikey: carolToken } });
    const hint = await clients.waitFor(off, 'the hint', (item) => item.name === 'pombo.hint');
    assert.equal(hint.payload.code, 'POMBO_HINT_WEBSOCKET_OFF');
    assert.match(hint.payload.message, new RegExp(`instance "${carol}" is off, so nothing is emitted for this token on "/"`));
  });
});

test('auth.lastEventId on "/" with an instance token replays its own instance\'s missed events only, and refuses another instance\'s id', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const { token } = await pombo.sandbox(alice, { websocket: { enabled: true } });
  await pombo.sandbox(bob, { websocket: { enabled: true } });
  const [a1] = await ingest(pombo, alice, [{ event: 'MESSAGES_UPSERT', data: { n: 1 } }]);
  const [b1] = await ingest(pombo, bob, [{ event: 'MESSAGES_UPSERT', data: { n: 2 } }]);
  const [a2, a3] = await ingest(pombo, alice, [
    { event: 'MESSAGES_UPSERT', data: { n: 3 } },
    { event: 'CHATS_UPSERT', data: [{ id: 'x' }] },
  ]);
  await ingest(pombo, bob, [{ event: 'MESSAGES_UPSERT', data: { n: 4 } }]);

  const refused = await clients.refused(pombo.url, { auth: { apikey: token, lastEventId: b1 } });
  assert.equal(refused.data?.code, 'POMBO_ERR_VALIDATION');
  assert.match(refused.message, new RegExp(`is not in the event log of "${alice}"`));

  const resumed = await clients.connect(pombo.url, { auth: { apikey: token, lastEventId: a1 } });
  const [b5] = await ingest(pombo, bob, [{ event: 'MESSAGES_UPSERT', data: { n: 5 } }]);
  const [a4] = await ingest(pombo, alice, [{ event: 'MESSAGES_UPSERT', data: { n: 6 } }]);
  await clients.waitFor(resumed, 'a4 under "*"', (item) => item.name === '*' && item.payload?.id === a4);
  const got = clients.received(resumed).filter((item) => typeof item.payload?.id === 'string');
  assert.deepEqual(
    got.map((item) => ({ name: item.name, id: item.payload.id, instance: item.payload.instance })),
    [
      ...globalNames(alice, 'messages.upsert', a2!),
      ...globalNames(alice, 'chats.upsert', a3!),
      ...globalNames(alice, 'messages.upsert', a4!),
    ],
  );
  assert.ok(!got.some((item) => item.payload.id === b5));
});

// The timeout turns a socket left connected into a failure instead of a wait without end.
test('deleting an instance disconnects its token\'s sockets on "/" after the removal events, as its namespace\'s; the global key stays', { timeout: 20_000 }, async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const { token } = await pombo.sandbox(alice, { websocket: { enabled: true } });
  const global = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey } });
  const own = await clients.connect(pombo.url, { auth: { apikey: token } });
  // One that resumed by auth.lastEventId goes too.
  const [a1] = await ingest(pombo, alice, [{ event: 'MESSAGES_UPSERT', data: { n: 1 } }]);
  const resumed = await clients.connect(pombo.url, { auth: { apikey: token, lastEventId: a1 } });
  const disconnected = [own, resumed].map((socket) => new Promise<string>((resolve) => socket.once('disconnect', resolve)));

  assert.equal((await pombo.api('DELETE', `/instance/delete/${alice}`)).status, 200);
  assert.deepEqual(await Promise.all(disconnected), ['io server disconnect', 'io server disconnect']);
  assert.deepEqual(
    clients.received(own, '*').map((item) => item.payload.event),
    ['messages.upsert', 'instance.delete', 'remove.instance'],
    'the deletion events arrive before the disconnection',
  );
  assert.ok(global.connected, 'the global key is not disconnected');
  const again = await clients.refused(pombo.url, { auth: { apikey: token } });
  assert.equal(again.data?.code, 'POMBO_ERR_SOCKET_UNAUTHORIZED', 'the deleted token no longer opens "/"');
});

test('send_message on "/" with an instance token sends from its own instance', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const { token } = await pombo.sandbox(alice);
  await pombo.sandbox(bob, { number: '5511987654322' });
  const own = await clients.connect(pombo.url, { auth: { apikey: token } });
  const ack = await own.timeout(5000).emitWithAck('send_message', { number: '5511987654322', text: 'from /' });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  // Its own instance's send, on its own stream.
  const sent = await clients.waitFor(own, "alice's send.message", (item) => item.name === 'send.message' && item.payload.data?.key?.id === ack.message.key.id);
  assert.equal(sent.payload.instance, alice);
});
