import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { closeUnansweredUpgrades } from '../../src/http/unanswered-upgrades.ts';
import { eventually } from '../helpers/pombo-harness.ts';

test('an answered upgrade keeps no listener of the unanswered-upgrade guard once its time has passed', async () => {
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  let upgraded: Socket | undefined;
  closeUnansweredUpgrades(server, 200);
  server.on('upgrade', (request, socket: Socket, head) => {
    upgraded = socket;
    wss.handleUpgrade(request, socket, head, () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  try {
    await new Promise((resolve) => client.once('open', resolve));
    const withGuard = upgraded!.listenerCount('close');
    await eventually(() => upgraded!.listenerCount('close') === withGuard - 1, 'the guard letting go of the socket');
    assert.equal(client.readyState, WebSocket.OPEN, 'the answered upgrade was not cut');
  } finally {
    client.terminate();
    wss.close();
    server.close();
  }
});
