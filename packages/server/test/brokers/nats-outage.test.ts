import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { numberedEvent, Tally } from '../helpers/event-flow.ts';
import { eventually, startPombo } from '../helpers/pombo-harness.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { behindProxy, killLosesNothing, outageLosesNothing, type LossSubject } from './loss-scenarios.ts';
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

/**
 * Pombo reaches NATS through a proxy the test cuts. The consumer is a core NATS subscriber connected
 * to NATS directly throughout (core NATS keeps nothing for a subscriber that is away); with JetStream
 * the stream must also hold each event exactly once (Pombo's Nats-Msg-Id deduplicates what it
 * publishes again).
 */
const subjectThrough = (proxy: TcpProxy, jetstream: boolean): LossSubject => {
  const names = natsNames();
  return {
    channel: 'nats',
    env: envThrough(proxy, names, jetstream),
    config: { enabled: true, events: ['MESSAGES_UPSERT'] },
    ordered: true,
    // Core NATS keeps nothing for a subscriber that is not there yet: it subscribes before the first event.
    live: true,
    async consume() {
      const subscriber = await subscribe(`${names.prefix}.>`);
      return {
        numbers: async () => subscriber.received.filter((item) => item.body.event === 'messages.upsert').map((item) => item.body.data.n),
        async close() {
          await subscriber.close();
          await deleteStreams(names.stream);
        },
      };
    },
    ...(jetstream && {
      async verify(_instance: string, acknowledged: readonly number[]) {
        const stored = await storedTally(names.stream);
        assert.deepEqual(stored.missing(acknowledged), [], 'the stream holds every acknowledged event');
        assert.equal(stored.duplicates, 0, 'Nats-Msg-Id deduplicated every republished event');
      },
    }),
  };
};

for (const mode of ['JetStream', 'core NATS'] as const) {
  test(`${mode}: an outage while events flow loses nothing; the last copies arrive in order`, nats, (t) =>
    behindProxy(NATS_PORT, (proxy, cut) => outageLosesNothing(t, subjectThrough(proxy, mode === 'JetStream'), cut)));
}

test('JetStream: kill -9 of Pombo while it catches up a backlog loses nothing, and the stream holds each event once', nats, (t) =>
  behindProxy(NATS_PORT, (proxy, cut) => killLosesNothing(t, subjectThrough(proxy, true), cut)));
