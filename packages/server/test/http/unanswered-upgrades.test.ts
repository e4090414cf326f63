import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { closeUnansweredUpgrades } from '../../src/http/unanswered-upgrades.ts';

/** Upgrades one client; answers with the upgraded socket's `close` listener count and the client. */
async function upgradeOne(guardMs: number | undefined): Promise<{ listeners: number; client: WebSocket; close(): void }> {
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  let upgraded: Socket | undefined;
  if (guardMs !== undefined) closeUnansweredUpgrades(server, guardMs);
  server.on('upgrade', (request, socket: Socket, head) => {
    upgraded = socket;
    wss.handleUpgrade(request, socket, head, () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await new Promise((resolve) => client.once('open', resolve));
  return {
    listeners: upgraded!.listenerCount('close'),
    client,
    close() {
      client.terminate();
      wss.close();
      server.close();
    },
  };
}

test('the unanswered-upgrade guard attaches nothing to an upgraded socket and never cuts an answered upgrade', async () => {
  const bare = await upgradeOne(undefined);
  const guarded = await upgradeOne(100);
  try {
    assert.equal(guarded.listeners, bare.listeners, 'no listener of the guard on the socket (upgraded sockets live for hours)');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(guarded.client.readyState, WebSocket.OPEN, 'the answered upgrade was not cut');
  } finally {
    bare.close();
    guarded.close();
  }
});
