import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket as TcpSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { callApi, freePort, peakRss, spawnPombo } from '../helpers/child-pombo.ts';
import { bulkyEvents } from '../helpers/event-flow.ts';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';

const EVENTS = 3000;
const BATCH = 100;
const MIB = 1024 * 1024;
/** A socket.io-client socket that records the ids it receives. */
function client(url: string, token: string, lastEventId?: string): { socket: Socket; ids: string[] } {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { apikey: token, ...(lastEventId ? { lastEventId } : {}) } });
  const ids: string[] = [];
  socket.on('messages.upsert', (data: { id: string }) => ids.push(data.id));
  return { socket, ids };
}

/** For a failure message: what each socket got twice, and where the resumed stream began. */
function describeArrivals(expected: readonly string[], before: readonly string[], after: readonly string[]): string {
  const index = new Map(expected.map((id, at) => [id, at]));
  const twice = (list: readonly string[]) => list.length - new Set(list).size;
  const overlap = after.filter((id) => before.includes(id)).length;
  return (
    `the slow socket got ${before.length} (${twice(before)} twice, the last at index ${index.get(before.at(-1) ?? '')}), ` +
    `the resumed one ${after.length} (${twice(after)} twice, the first at index ${index.get(after[0] ?? '')}), ${overlap} in both`
  );
}

const connected = (socket: Socket) =>
  new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));

test('a Socket.IO client that stops reading is dropped past WEBSOCKET_MAX_BUFFERED_BYTES, the server stays small, others keep receiving, and it resumes with auth.lastEventId', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-slow-sio-'));
  const apiKey = `key-${uniqueName()}`;
  const server = await spawnPombo({ AUTHENTICATION_API_KEY: apiKey, DATA_DIR: dataDir, WEBSOCKET_MAX_BUFFERED_BYTES: String(MIB) }, await freePort());
  const api = (method: string, path: string, body?: unknown) => callApi(server.url, apiKey, method, path, body);
  const name = uniqueName('slow');
  const sockets: Socket[] = [];
  try {
    const created = await api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } });
    const url = `${server.url}/${name}`;
    const healthy = client(url, created.hash);
    const slow = client(url, created.hash);
    sockets.push(healthy.socket, slow.socket);
    await Promise.all([connected(healthy.socket), connected(slow.socket)]);
    // The slow client's TCP socket stops reading: what the server sends piles up in the kernel, then in the server.
    const tcp = (slow.socket.io.engine.transport as unknown as { ws: { _socket: TcpSocket } }).ws._socket;
    tcp.pause();
    const ids: string[] = (await api('POST', `/events/${name}`, { events: bulkyEvents(0, 10) })).events.map((e: { id: string }) => e.id);
    await eventually(() => healthy.ids.length === 10, 'the first events');
    const baseline = server.rss();

    const peak = peakRss(server);
    const disconnected = new Promise<string>((resolve) => slow.socket.once('disconnect', resolve));
    for (let from = 10; from < EVENTS; from += BATCH) {
      ids.push(...(await api('POST', `/events/${name}`, { events: bulkyEvents(from, BATCH) })).events.map((e: { id: string }) => e.id));
    }
    await eventually(() => healthy.ids.length >= ids.length, 'every event on the healthy socket', 60_000);
    await eventually(async () => (await api('GET', `/websocket/find/${name}`)).state.connections === 1, 'the slow socket to be dropped');
    const highest = peak.stop();
    t.diagnostic(`server RSS ${(baseline / MIB).toFixed(0)} MiB before, at most ${(highest / MIB).toFixed(0)} MiB while ${EVENTS} events of 10 KB flowed`);
    assert.deepEqual(healthy.ids, ids, 'the healthy socket got every event, in order');
    assert.equal(healthy.socket.connected, true);
    assert.ok(highest - baseline < 250 * MIB, `the server grew by ${((highest - baseline) / MIB).toFixed(0)} MiB`);
    assert.match(await api('GET', '/metrics'), /pombo_slow_connections_dropped_total\{transport="socketio"\} 1\b/);

    // Reading again, the client takes what reached it, then sees the transport close (it would reconnect by itself).
    tcp.resume();
    assert.equal(await disconnected, 'transport close');
    const seen = slow.ids.length;
    assert.ok(seen < EVENTS, `the slow socket got ${seen} events before it was dropped`);
    // With the documented auth.lastEventId, it gets the rest from the log: nothing lost, nothing twice.
    const resumed = client(url, created.hash, slow.ids.at(-1) ?? ids[0]);
    sockets.push(resumed.socket);
    await connected(resumed.socket);
    const all = () => [...slow.ids, ...resumed.ids];
    await eventually(() => new Set(all()).size >= ids.length, 'the rest after the resume', 60_000);
    assert.equal(slow.ids.length, seen, 'the slow socket received nothing after its disconnect');
    assert.deepEqual(all(), ids, describeArrivals(ids, slow.ids, resumed.ids));
  } finally {
    for (const socket of sockets) socket.close();
    await server.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
