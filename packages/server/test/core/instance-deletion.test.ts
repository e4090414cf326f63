import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';
import { connect } from '../realtime/ws-client.ts';
import { namespaceUrl, withPombo } from '../socketio/socket-helpers.ts';

const postgres = await postgresTestSchema();

/**
 * Deleting an instance ends what the channels keep for it once it is gone from the store, however long
 * the store takes to delete it (PostgreSQL answers over the network, SQLite at once).
 */
for (const [provider, env, options] of [
  ['SQLite', {}, {}],
  ['PostgreSQL', { DATABASE_PROVIDER: 'postgresql', DATABASE_CONNECTION_URI: postgres.uri }, postgres.service],
] as const) {
  test(`${provider}: deleting an instance closes its realtime and Socket.IO connections after the removal events, and forgets its subscribers' positions`, options, () =>
    withPombo({ ...env, REALTIME_ACK_WAIT_MS: '200' }, async (pombo, clients) => {
      const name = uniqueName('doomed');
      const { token, id } = await pombo.sandbox(name, { websocket: { enabled: true } });
      const realtime = await connect(pombo.url, { query: { instance_id: name, subscriber: 'ops' }, headers: { 'x-instance-token': token }, autoAck: true });
      const socket = await clients.connect(namespaceUrl(pombo, name), { auth: { apikey: token } });
      const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve));

      assert.equal((await pombo.api('DELETE', `/instance/delete/${name}`)).status, 200);

      assert.equal((await realtime.closed).code, 4410);
      assert.deepEqual(realtime.frames.map((frame) => frame.data.event), ['instance.delete', 'remove.instance']);
      assert.equal(await disconnected, 'io server disconnect');
      assert.deepEqual(clients.received(socket).map((item) => item.name), ['instance.delete', 'remove.instance']);
      const { store } = pombo.pombo.context;
      await eventually(async () => (await store.getCursor(`realtime:${id}:ops`)) === undefined && (await store.getCursor(`realtime:${id}`)) === undefined, 'the positions are deleted');
    }),
  );
}
