import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { numberedEvent, startFlow, Tally } from '../helpers/event-flow.ts';
import { eventually, startPombo } from '../helpers/pombo-harness.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { deleteStreams, natsNames, natsRequired, NATS_HOST, NATS_PORT, readStream, subscribe, withNats, type NatsReceived } from './nats-helpers.ts';

const nats = await natsRequired();

const tallyOf = (received: NatsReceived[]): Tally => {
  const tally = new Tally();
  for (const item of received) if (item.body.event === 'messages.upsert') tally.add(item.body.data.n);
  return tally;
};

const storedTally = (stream: string): Promise<Tally> => withNats(async (nc) => tallyOf(await readStream(nc, stream)));

const envThrough = (proxy: TcpProxy, names: { prefix: string; stream: string }, jetstream: boolean) => ({
  NATS_ENABLED: 'true',
  NATS_URI: `nats://127.0.0.1:${proxy.port}`,
  NATS_PREFIX_KEY: names.prefix,
  NATS_JETSTREAM_ENABLED: String(jetstream),
  NATS_JETSTREAM_STREAM: names.stream,
  NATS_RETRY_MAX_DELAY_MS: '300',
  NATS_PUBLISH_TIMEOUT_MS: '2000',
});

/** GET /nats/find/{instance} on a Pombo at `url`. */
async function findState(url: string, apiKey: string, instance: string): Promise<{ connection: string; lastError: string | null; backlog: number }> {
  const response = await fetch(`${url}/nats/find/${instance}`, { headers: { apikey: apiKey } });
  return ((await response.json()) as { state: { connection: string; lastError: string | null; backlog: number } }).state;
}

const caughtUp = (url: string, apiKey: string, instance: string) =>
  eventually(async () => {
    const state = await findState(url, apiKey, instance);
    return state.connection === 'connected' && state.backlog === 0;
  }, `${instance} to catch up`, 30_000, 100);

test('a first connection that fails is retried: events appended meanwhile arrive once NATS is reachable', nats, async () => {
  const names = natsNames();
  const proxy = await startTcpProxy({ host: NATS_HOST, port: NATS_PORT });
  proxy.cut();
  const pombo = await startPombo(envThrough(proxy, names, true));
  try {
    await pombo.api('POST', '/instance/create', { instanceName: 'early', integration: 'INGEST', nats: { enabled: true } });
    await pombo.api('POST', '/events/early', { events: [1, 2, 3].map((n) => numberedEvent(n)) });
    const before = await eventually(async () => {
      const state = await findState(pombo.url, pombo.apiKey, 'early');
      return state.lastError ? state : undefined;
    }, 'find to show the connection error');
    assert.notEqual(before.connection, 'connected');
    await sleep(1500); // several failed attempts: the driver must not give up
    proxy.restore();
    await caughtUp(pombo.url, pombo.apiKey, 'early');
    const tally = await storedTally(names.stream);
    assert.deepEqual(tally.missing([1, 2, 3]), []);
  } finally {
    await pombo.close();
    await proxy.close();
    await deleteStreams(names.stream);
  }
});

for (const mode of ['JetStream', 'core NATS'] as const) {
  test(`${mode}: an outage of several seconds while events flow; every event arrives afterwards, in order`, nats, async (t) => {
    const names = natsNames();
    const jetstream = mode === 'JetStream';
    const proxy = await startTcpProxy({ host: NATS_HOST, port: NATS_PORT });
    // Core NATS keeps nothing: its consumer is a live subscriber, connected to NATS directly all along.
    const subscriber = await subscribe(`${names.prefix}.>`);
    const pombo = await startPombo(envThrough(proxy, names, jetstream));
    await pombo.api('POST', '/instance/create', { instanceName: 'stream', integration: 'INGEST', nats: { enabled: true } });
    const flow = startFlow({ url: pombo.url, apiKey: pombo.apiKey, instance: 'stream' });
    try {
      await eventually(() => tallyOf(subscriber.received).distinct > 50, 'events to flow before the outage');
      proxy.cut();
      await eventually(async () => (await findState(pombo.url, pombo.apiKey, 'stream')).connection !== 'connected', 'find to show the outage');
      await sleep(4000);
      proxy.restore();
      await sleep(1000);
      await flow.stop();
      await caughtUp(pombo.url, pombo.apiKey, 'stream');

      const expected = [...flow.acknowledged];
      const live = await eventually(() => {
        const tally = tallyOf(subscriber.received);
        return tally.missing(expected).length === 0 ? tally : undefined;
      }, 'the subscriber to get every event');
      assert.ok(live.inOrder, 'first arrivals follow the log order');
      assert.ok(proxy.connections >= 2, 'Pombo reconnected');
      if (jetstream) {
        const stored = await storedTally(names.stream);
        assert.deepEqual(stored.missing(expected), []);
        assert.equal(stored.duplicates, 0, 'Nats-Msg-Id deduplicated every republished event');
      }
      t.diagnostic(`${mode} outage: ${expected.length} events, ${live.duplicates} duplicates seen by the live subscriber`);
    } finally {
      await flow.stop();
      await subscriber.close();
      await pombo.close();
      await proxy.close();
      await deleteStreams(names.stream);
    }
  });
}

test('JetStream: kill -9 of Pombo mid-stream loses nothing, and the stream holds each event once', nats, async (t) => {
  const names = natsNames();
  const proxy = await startTcpProxy({ host: NATS_HOST, port: NATS_PORT });
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-kill-'));
  const apiKey = `kill-test-key-${names.prefix}`;
  const env = { DATA_DIR: dataDir, AUTHENTICATION_API_KEY: apiKey, ...envThrough(proxy, names, true) };
  const port = await freePort();
  let child = await spawnPombo(env, port);
  const created = await fetch(`${child.url}/instance/create`, {
    method: 'POST',
    headers: { apikey: apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ instanceName: 'doomed', integration: 'INGEST', nats: { enabled: true } }),
  });
  assert.equal(created.status, 201);
  const flow = startFlow({ url: child.url, apiKey, instance: 'doomed', batch: 20 });
  try {
    await eventually(() => flow.acknowledged.size > 300, 'events to flow before the kill', 20_000);
    // Hold a backlog, then kill while it is being caught up.
    proxy.cut();
    await eventually(async () => (await findState(child.url, apiKey, 'doomed')).backlog > 300, 'a backlog to build up');
    proxy.restore();
    await sleep(300);
    await child.kill();
    const acknowledgedAtKill = flow.acknowledged.size;
    child = await spawnPombo(env, port);
    await eventually(() => flow.acknowledged.size > acknowledgedAtKill + 100, 'the restarted Pombo to take events', 20_000);
    await flow.stop();
    await caughtUp(child.url, apiKey, 'doomed');

    const expected = [...flow.acknowledged];
    const stored = await storedTally(names.stream);
    assert.deepEqual(stored.missing(expected), []);
    assert.equal(stored.duplicates, 0, 'republished events were deduplicated by Nats-Msg-Id');
    assert.ok(stored.inOrder, 'the stream holds the events in log order');
    t.diagnostic(`kill -9: ${expected.length} events stored once each, ${flow.failures} refused requests`);
  } finally {
    await flow.stop();
    await child.kill();
    await proxy.close();
    rmSync(dataDir, { recursive: true, force: true });
    await deleteStreams(names.stream);
  }
});
