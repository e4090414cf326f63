import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { eventually, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { connect as realtimeConnect } from '../realtime/ws-client.ts';
import { ingest, namespaceUrl, numbered, withPombo, type Clients } from '../socketio/socket-helpers.ts';

/** A raw TCP client: what the server wrote to it, and when the server closed it (ms after it opened). */
interface RawClient {
  socket: Socket;
  received(): string;
  closed: Promise<number>;
}

async function raw(pombo: Harness, first?: string): Promise<RawClient> {
  const { hostname, port } = new URL(pombo.url);
  const socket = tcpConnect(Number(port), hostname);
  let received = '';
  socket.on('data', (chunk) => (received += chunk));
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  const opened = Date.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
  if (first !== undefined) socket.write(first);
  return { socket, received: () => received, closed };
}

/** An instance with a realtime subscriber and a Socket.IO client on its namespace, both authenticated. */
async function authenticatedClients(pombo: Harness, clients: Clients) {
  const name = uniqueName('conn');
  const { token } = await pombo.sandbox(name, { integration: 'INGEST', websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } });
  const subscriber = await realtimeConnect(pombo.url, { query: { instance_id: name }, headers: { 'x-instance-token': token }, autoAck: true });
  const socket = await clients.connect(namespaceUrl(pombo, name), { auth: { apikey: token } });
  return { name, subscriber, socket };
}

const within = (ms: number, low: number, high: number, what: string) =>
  assert.ok(ms >= low && ms <= high, `${what} closed after ${ms} ms, expected between ${low} and ${high}`);

test('an idle TCP connection, an unfinished request and an unfinished WebSocket handshake are closed after SERVER_HEADERS_TIMEOUT_MS; authenticated clients stay', () =>
  withPombo({ SERVER_HEADERS_TIMEOUT_MS: '600', SERVER_KEEP_ALIVE_TIMEOUT_MS: '300' }, async (pombo, clients) => {
    const { name, subscriber, socket } = await authenticatedClients(pombo, clients);
    const idle = await raw(pombo);
    const halfRequest = await raw(pombo, `GET /instance/fetchInstances HTTP/1.1\r\nHost: x\r\napikey: ${pombo.apiKey}\r\n`);
    const halfUpgrade = await raw(pombo, `GET /events/ws?instance_id=${name} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`);
    const [a, b, c] = await Promise.all([idle.closed, halfRequest.closed, halfUpgrade.closed]);
    // Checked every tenth of the timeout: closed after 600 to 660 ms, with room for a busy machine.
    within(a, 550, 1500, 'the idle connection');
    within(b, 550, 1500, 'the unfinished request');
    within(c, 550, 1500, 'the unfinished WebSocket handshake');
    assert.match(idle.received(), /^HTTP\/1\.1 408 /, 'the server says why');

    // Long past every timeout, the authenticated connections are still served.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(socket.connected, true, 'the Socket.IO client is still connected');
    assert.equal(subscriber.ws.readyState, WebSocket.OPEN, 'the realtime subscriber is still connected');
    const [id] = await ingest(pombo, name, numbered(1, 1));
    await subscriber.waitFrames(1);
    assert.equal(subscriber.frames[0]?.id, id);
    await clients.waitFor(socket, 'the event on Socket.IO', (item) => item.payload?.id === id);
    await subscriber.close();
  }));

test('a keep-alive connection is closed once idle for SERVER_KEEP_ALIVE_TIMEOUT_MS', () =>
  withPombo({ SERVER_KEEP_ALIVE_TIMEOUT_MS: '400' }, async (pombo) => {
    const client = await raw(pombo, `GET /health HTTP/1.1\r\nHost: x\r\n\r\n`);
    await eventually(() => client.received().includes('\r\n\r\n'), 'the answer');
    assert.match(client.received(), /^HTTP\/1\.1 200 /);
    within(await client.closed, 350, 1500, 'the idle keep-alive connection');
  }));

test('Socket.IO connections that join no namespace (silent, or refused for want of a key) are closed after WEBSOCKET_CONNECT_TIMEOUT_MS', () =>
  withPombo({ WEBSOCKET_CONNECT_TIMEOUT_MS: '600' }, async (pombo, clients) => {
    const name = uniqueName('sio');
    const { token } = await pombo.sandbox(name);
    const engine = () => new WebSocket(`${pombo.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
    const closedAfter = (ws: WebSocket) => {
      const opened = Date.now();
      return new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now() - opened)));
    };
    const silent = engine();
    const keyless = engine();
    const frames: string[] = [];
    keyless.on('message', (data) => {
      const text = data.toString();
      frames.push(text);
      // After the engine's open packet, a connect to the instance's namespace without a key.
      if (text.startsWith('0')) keyless.send(`40/${name},`);
    });
    const authorized = await clients.connect(namespaceUrl(pombo, name), { auth: { apikey: token } });
    const [a, b] = await Promise.all([closedAfter(silent), closedAfter(keyless)]);
    within(a, 550, 2000, 'the silent Socket.IO connection');
    within(b, 550, 2000, 'the refused Socket.IO connection');
    assert.ok(frames.some((frame) => frame.startsWith(`44/${name},`) && frame.includes('POMBO_ERR_SOCKET_UNAUTHORIZED')), `refused first: ${frames.join(' | ')}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(authorized.connected, true, 'an authorized client stays connected');
  }));

test('connections past SERVER_MAX_CONNECTIONS are closed at once; the authenticated ones keep working', () =>
  withPombo({ SERVER_MAX_CONNECTIONS: '4', SERVER_KEEP_ALIVE_TIMEOUT_MS: '200' }, async (pombo, clients) => {
    const { name, subscriber, socket } = await authenticatedClients(pombo, clients);
    // The test's own HTTP calls left keep-alive connections: the server closes them after 200 ms.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const held = [await raw(pombo), await raw(pombo)];
    const past = await raw(pombo, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    const closedAfter = await past.closed;
    assert.ok(closedAfter < 500, `the fifth connection was closed after ${closedAfter} ms`);
    assert.equal(past.received(), '', 'closed unanswered');
    for (const client of held) assert.equal(client.socket.destroyed, false, 'the connections within the limit stay');

    for (const client of held) client.socket.destroy();
    // Room again: an HTTP request goes through, and the authenticated clients get its event.
    const [id] = await eventually(() => ingest(pombo, name, numbered(1, 1)), 'an ingest once there is room');
    await subscriber.waitFrames(1);
    assert.equal(subscriber.frames[0]?.id, id);
    await clients.waitFor(socket, 'the event on Socket.IO', (item) => item.payload?.id === id);
    await subscriber.close();
  }));
