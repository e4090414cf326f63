import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/**
 * Pins the ws behaviour RealtimeSocket relies on (realtime-connection.ts): a server answers a client's
 * close frame by calling its own WebSocket's `close()`, with the client's code, while the socket is
 * still open; so an override of `close()` can finish work (write a floor) before the answer goes out.
 * If a ws upgrade changes this, this test fails before the ack-at-close guarantee silently does.
 */
test('ws answers a client close frame through the server WebSocket’s close(), before its close event, and waits for it', async () => {
  const calls: Array<{ code: number | undefined; open: boolean }> = [];
  let release: () => void = () => undefined;
  class Recording extends WebSocket {
    override close(code?: number, data?: string | Buffer): void {
      if (calls.length) return super.close(code, data);
      calls.push({ code, open: this.readyState === WebSocket.OPEN });
      // The answer is held until the test releases it, as RealtimeSocket holds it until the floor is written.
      release = () => super.close(code, data);
    }
  }
  const server = createServer();
  const wss = new WebSocketServer({ server, WebSocket: Recording });
  let serverClosedAt = 0;
  wss.on('connection', (ws) => ws.on('close', () => (serverClosedAt = Date.now())));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  try {
    await new Promise((resolve) => client.once('open', resolve));
    let clientClosedAt = 0;
    const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve((clientClosedAt = Date.now(), code))));
    client.close(1000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(calls, [{ code: 1000, open: true }], 'the close frame reached the override while the socket was open');
    assert.equal(clientClosedAt, 0, 'the client waits for the answer');
    const releasedAt = Date.now();
    release();
    assert.equal(await closed, 1000);
    assert.ok(clientClosedAt >= releasedAt && serverClosedAt >= releasedAt, 'both ends closed only after the answer');
  } finally {
    client.terminate();
    wss.close();
    server.close();
  }
});
