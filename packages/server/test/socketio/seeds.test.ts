import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';
import { ingest, namespaceUrl, pomboForFile, withPombo } from './socket-helpers.ts';

const ENVELOPE_KEYS = ['apikey', 'data', 'date_time', 'event', 'id', 'instance', 'sender', 'server_url'];

const shared = pomboForFile();

test('seed 001: the global key on "/" gets each instance\'s events under its name, and every event under "*" with WEBSOCKET_GLOBAL_EVENTS=true', async () => {
  await withPombo({ WEBSOCKET_GLOBAL_EVENTS: 'true' }, async (pombo) => {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    await pombo.sandbox(alice);
    await pombo.sandbox(bob, { number: '5511912345678' });

    // The seed's client code, unchanged but for the URL and key.
    const socket = io(pombo.url, { transports: ['websocket'], auth: { apikey: pombo.apiKey } });
    const byName: any[] = [];
    const global: any[] = [];
    socket.on(alice, (data) => byName.push(data));
    socket.on(bob, (data) => byName.push(data));
    socket.on('*', (data) => global.push(data));
    try {
      await new Promise<void>((resolve, reject) => socket.on('connect', resolve).on('connect_error', reject));
      await pombo.api('POST', `/message/sendText/${alice}`, { number: '5511912345678', text: 'olá' });

      await eventually(() => byName.length >= 4 && global.length >= 4, 'the four events of one message on "/"');
      const sent = byName.find((data) => data.event === 'send.message');
      assert.equal(sent.instance, alice);
      assert.equal(sent.data.message.conversation, 'olá');
      assert.deepEqual(Object.keys(sent).sort(), ENVELOPE_KEYS);
      assert.match(sent.id, /^evt_/);
      assert.equal(sent.apikey, null, 'no credential in payloads by default');
      const received = byName.find((data) => data.event === 'messages.upsert');
      assert.equal(received.instance, bob);
      assert.deepEqual(
        global.map((data) => `${data.instance}:${data.event}`),
        byName.map((data) => `${data.instance}:${data.event}`),
        '"*" carries the same events, in the same order',
      );
      assert.deepEqual(global.map((data) => data.id), byName.map((data) => data.id));
    } finally {
      socket.close();
    }
  });
});

test('Evolution API global mode: "/" also carries each event under its dotted name, as io.emit(event, message) does', async () => {
  await withPombo({ WEBSOCKET_GLOBAL_EVENTS: 'true' }, async (pombo, clients) => {
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    await pombo.sandbox(alice);
    await pombo.sandbox(bob, { number: '5511912345671' });
    await pombo.sandbox('call'); // named like an event: its `call` events go out once under that name
    const recorder = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey } });
    // An Evolution API global client, unchanged but for the key: it listens by event name on "/".
    const socket = io(pombo.url, { transports: ['websocket'], auth: { apikey: pombo.apiKey } });
    const upserts: any[] = [];
    const sends: any[] = [];
    socket.on('messages.upsert', (data) => upserts.push(data));
    socket.on('send.message', (data) => sends.push(data));
    try {
      await new Promise<void>((resolve, reject) => socket.on('connect', resolve).on('connect_error', reject));
      await pombo.api('POST', `/message/sendText/${alice}`, { number: '5511912345671', text: 'olá' });
      await ingest(pombo, 'call', [{ event: 'CALL', data: { marker: 'last' } }]);

      await eventually(() => sends.length >= 1 && upserts.length >= 1, 'send.message and messages.upsert on "/"');
      assert.deepEqual(sends.map((data) => `${data.instance}:${data.data.message.conversation}`), [`${alice}:olá`]);
      assert.equal(upserts[0].instance, bob, 'the event of every instance, not of one');
      assert.deepEqual(Object.keys(upserts[0]).sort(), ENVELOPE_KEYS);

      // Each event once under each of its names, in that order, with one payload.
      await clients.waitFor(recorder, 'the marker event', (item) => item.payload.data?.marker === 'last');
      const received = clients.received(recorder);
      const ids = [...new Set(received.map((item) => item.payload.id))];
      assert.deepEqual(
        received.map((item) => item.name),
        ids.flatMap((id) => {
          const { instance, event } = received.find((item) => item.payload.id === id)!.payload;
          return [...new Set([instance, event, '*'])];
        }),
      );
    } finally {
      socket.close();
    }
  });
});

test('seed 001 without global events: events named by instance follow its websocket config, and "*" stays silent', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  await pombo.sandbox(alice, { websocket: { enabled: true, events: ['SEND_MESSAGE'] } });
  await pombo.sandbox(bob, { number: '5511912345679' });
  const socket = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey } });

  await pombo.api('POST', `/message/sendText/${alice}`, { number: '5511912345679', text: 'hi' });
  await ingest(pombo, alice, [{ event: 'SEND_MESSAGE', data: { marker: 'last' } }]);
  await clients.waitFor(socket, 'the marker event', (item) => item.payload.data?.marker === 'last');

  // Alice's receipts (MESSAGES_UPDATE) are not selected, Bob has no websocket config: only Alice's sends arrive.
  assert.deepEqual(
    clients.received(socket).map((item) => `${item.name}:${item.payload.event}`),
    [`${alice}:send.message`, `${alice}:send.message`],
  );
});

test('seed 002: an instance namespace gets dotted event names, with the key in auth or in the URL query', async () => {
  const { pombo } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  await pombo.sandbox(alice);
  const { token } = await pombo.sandbox(bob, { number: '5511912345670', websocket: { enabled: true, events: [] } });

  // The seed's client code: io('wss://host/instance_name', {transports: ['websocket']}), plus the key.
  const withAuth = io(namespaceUrl(pombo, bob), { transports: ['websocket'], auth: { apikey: token } });
  const withQuery = io(`${namespaceUrl(pombo, bob)}?apikey=${token}`, { transports: ['websocket'] });
  const upserts: any[] = [];
  const fromQuery: any[] = [];
  withAuth.on('messages.upsert', (data) => upserts.push(data));
  withQuery.on('messages.upsert', (data) => fromQuery.push(data));
  try {
    await Promise.all(
      [withAuth, withQuery].map((socket) => new Promise<void>((resolve, reject) => socket.on('connect', resolve).on('connect_error', reject))),
    );
    await pombo.api('POST', `/message/sendText/${alice}`, { number: '5511912345670', text: 'bom dia' });
    await eventually(() => upserts.length === 1 && fromQuery.length === 1, 'messages.upsert in /bob on both sockets');
    const [upsert] = upserts;
    assert.equal(upsert.event, 'messages.upsert');
    assert.equal(upsert.instance, bob);
    assert.equal(upsert.data.message.conversation, 'bom dia');
    assert.deepEqual(Object.keys(upsert).sort(), ENVELOPE_KEYS);
    assert.equal(fromQuery[0].id, upsert.id);
  } finally {
    withAuth.close();
    withQuery.close();
  }
});

test('the key is also accepted from the apikey header, and long-polling clients (also from another origin) work as well as websocket ones', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const { token } = await pombo.sandbox(alice, { websocket: { enabled: true } });
  const byHeader = await clients.connect(namespaceUrl(pombo, alice), { extraHeaders: { apikey: token } });
  const polling = await clients.connect(namespaceUrl(pombo, alice), { transports: ['polling'], auth: { apikey: token } });
  await ingest(pombo, alice, [{ event: 'CHATS_UPSERT', data: [{ id: 'x@s.whatsapp.net' }] }]);
  for (const socket of [byHeader, polling]) {
    const item = await clients.waitFor(socket, 'chats.upsert', (received) => received.name === 'chats.upsert');
    assert.equal(item.payload.instance, alice);
  }
  // A browser page on another origin may long-poll (as with Evolution API's CORS_ORIGIN=*).
  const handshake = await fetch(`${pombo.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'https://dashboard.example' } });
  assert.equal(handshake.status, 200);
  assert.equal(handshake.headers.get('access-control-allow-origin'), '*');
});

test('a namespace can be joined before the instance\'s first event, and /websocket/find counts its sockets', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const created = await pombo.api('POST', '/instance/create', { instanceName: alice, websocket: { enabled: true } });
  assert.equal(created.status, 201);
  const socket = await clients.connect(namespaceUrl(pombo, alice), { auth: { apikey: created.body.hash } });
  const find = await pombo.api('GET', `/websocket/find/${alice}`);
  assert.equal(find.body.state.connections, 1);
  assert.equal(find.body.namespace, `/${alice}`);

  await pombo.api('GET', `/instance/connect/${alice}`);
  await clients.waitFor(socket, 'connection.update', (item) => item.name === 'connection.update');
  assert.deepEqual(
    clients.received(socket).map((item) => item.name),
    ['qrcode.updated', 'connection.update'],
  );
  assert.equal(clients.received(socket)[1]?.payload.data.state, 'open');
});
