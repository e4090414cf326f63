import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callApi as call, freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';
import { connect } from './ws-client.ts';

const messages = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ event: 'MESSAGES_UPSERT', data: { key: { remoteJid: `${from + i}@s.whatsapp.net`, fromMe: false, id: `m${from + i}` }, n: from + i } }));

for (const closeBy of ['a close frame', 'a dropped TCP connection'] as const) {
  test(`events acked just before ${closeBy} are not sent again after a kill -9 right after it`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pombo-ack-close-'));
    const apiKey = `key-${uniqueName()}`;
    const env = { AUTHENTICATION_API_KEY: apiKey, DATA_DIR: dataDir };
    const port = await freePort();
    let server = await spawnPombo(env, port);
    const name = uniqueName('acks');
    const open = () => connect(server.url, { query: { instance_id: name, subscriber: 'worker' }, headers: { apikey: apiKey } });
    try {
      await call(server.url, apiKey, 'POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
      // The subscriber exists (its start position is written) before the events come.
      const first = await open();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const sent = (await call(server.url, apiKey, 'POST', `/events/${name}`, { events: messages(1, 20) })).events.map((e: { id: string }) => e.id);
      const frames = await first.waitFrames(20);
      // Acks for every event, then at once the close: the server reads them before the close.
      for (const frame of frames) first.ack(frame.id);
      if (closeBy === 'a close frame') {
        // The server answers the close frame once the floor is written: the kill may come at once.
        await first.close();
      } else {
        first.ws.terminate();
        await first.closed;
        // No close frame: the server learns of the drop from TCP; the kill comes as soon as it shows.
        await eventually(async () => (await call(server.url, apiKey, 'GET', `/realtime/find/${name}`)).subscribers.length === 0, 'the server to see the drop');
      }
      await server.kill();

      server = await spawnPombo(env, port);
      const again = await open();
      const later = (await call(server.url, apiKey, 'POST', `/events/${name}`, { events: messages(21, 1) })).events.map((e: { id: string }) => e.id);
      const frame = (await again.waitFrames(1))[0];
      assert.equal(frame?.id, later[0], `the first frame after the restart is the new event, not an acked one (acked: ${sent.length})`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(again.frames.map((f) => f.id), later, 'no acked event is sent again');
      await again.close();
    } finally {
      await server.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
}
