import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callApi, freePort, peakRss, spawnPombo } from '../helpers/child-pombo.ts';
import { bulkyEvents } from '../helpers/event-flow.ts';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';
import { connect } from './ws-client.ts';

const EVENTS = 3000;
const BATCH = 100;
const MIB = 1024 * 1024;
test('an /events/ws client that stops reading is closed past REALTIME_MAX_BUFFERED_BYTES, the server stays small, others keep receiving, and the subscriber reconnected gets every event', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-slow-rt-'));
  const apiKey = `key-${uniqueName()}`;
  const server = await spawnPombo({ AUTHENTICATION_API_KEY: apiKey, DATA_DIR: dataDir, REALTIME_MAX_BUFFERED_BYTES: String(MIB) }, await freePort());
  const api = (method: string, path: string, body?: unknown) => callApi(server.url, apiKey, method, path, body);
  const name = uniqueName('slow');
  const open = (subscriber: string, autoAck: boolean) =>
    connect(server.url, { query: { instance_id: name, subscriber }, headers: { apikey: apiKey }, autoAck });
  try {
    await api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
    const healthy = await open('healthy', true);
    const slow = await open('slow', false);
    // The slow client's TCP socket stops reading: what the server sends piles up in the kernel, then in the server.
    const tcp = (slow.ws as unknown as { _socket: Socket })._socket;
    tcp.pause();
    await eventually(async () => (await api('GET', `/realtime/find/${name}`)).subscribers.length === 2, 'both subscribers attached');
    const ids: string[] = (await api('POST', `/events/${name}`, { events: bulkyEvents(0, 10) })).events.map((e: { id: string }) => e.id);
    await healthy.waitFrames(10);
    const baseline = server.rss();

    const peak = peakRss(server);
    for (let from = 10; from < EVENTS; from += BATCH) {
      ids.push(...(await api('POST', `/events/${name}`, { events: bulkyEvents(from, BATCH) })).events.map((e: { id: string }) => e.id));
    }
    await healthy.waitFrames(EVENTS, 60_000);
    const listed = async () => ((await api('GET', `/realtime/find/${name}`)).subscribers as Array<{ subscriber: string }>).map((entry) => entry.subscriber);
    await eventually(async () => !(await listed()).includes('slow'), 'the slow connection to be dropped');
    const highest = peak.stop();
    t.diagnostic(`server RSS ${(baseline / MIB).toFixed(0)} MiB before, at most ${(highest / MIB).toFixed(0)} MiB while ${EVENTS} events of 10 KB flowed`);
    assert.deepEqual(await listed(), ['healthy'], 'the healthy subscriber stays');
    assert.deepEqual([...new Set(healthy.frames.map((frame) => frame.id))].sort(), [...ids].sort(), 'the healthy subscriber got every event');
    assert.ok(highest - baseline < 250 * MIB, `the server grew by ${((highest - baseline) / MIB).toFixed(0)} MiB`);
    assert.match(await api('GET', '/metrics'), /pombo_slow_connections_dropped_total\{transport="realtime"\} 1\b/);

    // Reading again, the client sees the connection end: 1013 when the close frame made it through, else 1006.
    tcp.resume();
    const { code } = await slow.closed;
    assert.ok(code === 1013 || code === 1006, `closed with ${code}`);
    // Reconnected under its name, the subscriber resumes from its floor: every event comes (it acked none).
    const again = await open('slow', true);
    // The log also holds the instance's own events (its creation): wait for the ingested ids, not a count of frames.
    const received = new Set<string>();
    await eventually(() => {
      for (const frame of again.frames) received.add(frame.id);
      return ids.every((id) => received.has(id));
    }, 'every event after the reconnect', 60_000).catch(() => undefined);
    assert.deepEqual(ids.filter((id) => !received.has(id)), [], 'no event missing');
    await Promise.all([healthy.close(), again.close()]);
  } finally {
    await server.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
