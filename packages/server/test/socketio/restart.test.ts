import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { callApi, freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';
import { numbered } from './socket-helpers.ts';

test('a client that keeps socket.auth.lastEventId resumes with no gap after the server is killed (-9) and restarted', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-sio-restart-'));
  const apiKey = `key-${uniqueName()}`;
  const env = { AUTHENTICATION_API_KEY: apiKey, DATA_DIR: dataDir };
  const port = await freePort();
  let server = await spawnPombo(env, port);
  const name = uniqueName('dash');
  const created = await callApi(server.url, apiKey, 'POST', '/instance/create', { instanceName: name, websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } });
  const ingest = (from: number, count: number) => callApi(server.url, apiKey, 'POST', `/events/${name}`, { events: numbered(from, count) });

  // The documented dashboard pattern: remember the last id; socket.io-client sends `auth` again on every reconnection.
  const socket = io(`${server.url}/${name}`, { transports: ['websocket'], auth: { apikey: created.hash }, reconnectionDelay: 500, reconnectionDelayMax: 1000 });
  const seen: number[] = [];
  socket.on('messages.upsert', (data) => {
    seen.push(data.data.n);
    (socket.auth as Record<string, unknown>).lastEventId = data.id;
  });
  try {
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
    await ingest(1, 3);
    await eventually(() => seen.length === 3, 'the first three messages');

    await server.kill();
    server = await spawnPombo(env, port);
    await ingest(4, 3);
    await eventually(() => seen.length >= 6, 'the messages sent around the restart', 20_000);
    await ingest(7, 2);
    await eventually(() => seen.length >= 8, 'live messages after the resume');
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8]);
  } finally {
    socket.close();
    await server.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
