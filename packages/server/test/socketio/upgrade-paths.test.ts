import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { closeUnansweredUpgrades } from '../../src/http/unanswered-upgrades.ts';
import { startPombo, uniqueName } from '../helpers/pombo-harness.ts';
import { Clients, ingest, namespaceUrl } from './socket-helpers.ts';

test('Socket.IO leaves other upgrade paths to their handlers, even one that takes more than a second to answer', async () => {
  const pombo = await startPombo();
  const clients = new Clients();
  const other = new WebSocketServer({ noServer: true });
  other.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${String(data)}`)));
  // A handler on another path that answers late (engine.io's default would end the socket after 1 s).
  pombo.pombo.http.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!request.url?.startsWith('/slow-upgrade')) return;
    setTimeout(() => other.handleUpgrade(request, socket, head, (ws) => other.emit('connection', ws, request)), 1500);
  });
  try {
    const ws = new WebSocket(`${pombo.url.replace('http', 'ws')}/slow-upgrade`);
    const echoed = new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('ping'));
      ws.once('message', (data) => resolve(String(data)));
      ws.once('error', reject);
    });
    assert.equal(await echoed, 'echo:ping');
    ws.close();

    // And Socket.IO on the same server still works.
    const alice = uniqueName('alice');
    const { token } = await pombo.sandbox(alice, { websocket: { enabled: true } });
    const socket = await clients.connect(namespaceUrl(pombo, alice), { auth: { apikey: token } });
    await ingest(pombo, alice, [{ event: 'CALL', data: { id: 'call-1' } }]);
    const call = await clients.waitFor(socket, 'call', (item) => item.name === 'call');
    assert.equal(call.payload.data.id, 'call-1');
  } finally {
    clients.closeAll();
    other.close();
    await pombo.close();
  }
});

test('an upgrade request that no handler answers gets a 404 and is closed, instead of staying open forever', { timeout: 5000 }, async () => {
  const server = createServer();
  // A handler for another path, as each channel has: it leaves this request alone.
  server.on('upgrade', () => undefined);
  closeUnansweredUpgrades(server, 50);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const answer = await new Promise<string>((resolve, reject) => {
      let received = '';
      const socket = connect(port, '127.0.0.1', () =>
        socket.write('GET /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
      );
      socket.on('data', (chunk) => (received += chunk));
      socket.on('end', () => resolve(received));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 404 Not Found/);
  } finally {
    server.close();
  }
});
