import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
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
