import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { startFlow, Tally } from '../helpers/event-flow.ts';
import { eventually, startPombo } from '../helpers/pombo-harness.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { cleanupRabbit, consume, rabbitmqRequired, rabbitNames, RABBITMQ_HOST, RABBITMQ_PORT, type Received } from './rabbitmq-helpers.ts';

const rabbit = await rabbitmqRequired();

/**
 * Only events past the destination's cursor can be published twice: the backlog that `find` shows
 * just before a cut or a kill, plus what the flow appends in the moment between (it posts at most
 * about 1,000 events a second).
 */
const SLACK = 200;

async function backlogOf(url: string, apiKey: string, instance: string): Promise<number> {
  const response = await fetch(`${url}/rabbitmq/find/${instance}`, { headers: { apikey: apiKey } });
  return ((await response.json()) as { state: { backlog: number } }).state.backlog;
}

const tallyOf = (received: Received[]): Tally => {
  const tally = new Tally();
  for (const item of received) if (item.body.event === 'messages.upsert') tally.add(item.body.data.n);
  return tally;
};

test('a broker outage of several seconds while events flow: every event arrives afterwards, in order', rabbit, async (t) => {
  const names = rabbitNames();
  const proxy = await startTcpProxy({ host: RABBITMQ_HOST, port: RABBITMQ_PORT });
  const consumer = await consume(names.exchange, `${names.prefix}.#`);
  const pombo = await startPombo({
    RABBITMQ_ENABLED: 'true',
    RABBITMQ_URI: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
    RABBITMQ_EXCHANGE_NAME: names.exchange,
    RABBITMQ_PREFIX_KEY: names.prefix,
    RABBITMQ_RETRY_MAX_DELAY_MS: '300',
  });
  await pombo.api('POST', '/instance/create', { instanceName: 'stream', integration: 'INGEST', rabbitmq: { enabled: true } });
  const flow = startFlow({ url: pombo.url, apiKey: pombo.apiKey, instance: 'stream' });
  try {
    await eventually(() => tallyOf(consumer.received).distinct > 50, 'events to flow before the outage');

    const backlogAtCut = await backlogOf(pombo.url, pombo.apiKey, 'stream');
    proxy.cut();
    const during = await eventually(async () => {
      const find = await pombo.api('GET', '/rabbitmq/find/stream');
      return find.body.state.connection !== 'connected' && find.body.state.backlog > 0 ? find.body : undefined;
    }, 'find to show the outage');
    assert.ok(during.state.lastError, 'the outage has a reason in find');
    await sleep(4000);
    const seenDuringOutage = tallyOf(consumer.received).distinct;
    proxy.restore();
    await sleep(1000);
    await flow.stop();

    const expected = [...flow.acknowledged];
    assert.ok(expected.length > seenDuringOutage + 100, 'events were appended during the outage');
    const tally = await eventually(() => {
      const current = tallyOf(consumer.received);
      return current.missing(expected).length === 0 ? current : undefined;
    }, 'every acknowledged event to arrive after the outage', 30_000);
    assert.ok(tally.duplicates <= backlogAtCut + SLACK, `${tally.duplicates} duplicates, backlog ${backlogAtCut} at the cut`);
    assert.ok(tally.inOrder, 'first arrivals follow the log order');
    assert.ok(proxy.connections >= 2, 'Pombo reconnected');
    const after = await eventually(async () => {
      const find = await pombo.api('GET', '/rabbitmq/find/stream');
      return find.body.state.connection === 'connected' && find.body.state.backlog === 0 ? find.body : undefined;
    }, 'find to show the recovery');
    assert.equal(after.state.lastError, null);
    t.diagnostic(`outage: ${expected.length} events, ${tally.duplicates} duplicates (backlog ${backlogAtCut} at the cut)`);
  } finally {
    await flow.stop();
    await consumer.close();
    await pombo.close();
    await proxy.close();
    await cleanupRabbit(names.exchange, names.prefix, ['stream']);
  }
});

test('kill -9 of Pombo mid-stream loses nothing: after a restart on the same data, every acknowledged event arrives', rabbit, async (t) => {
  const names = rabbitNames();
  // Through a proxy, to hold a backlog at the moment of the kill: the kill lands while it is being caught up.
  const proxy = await startTcpProxy({ host: RABBITMQ_HOST, port: RABBITMQ_PORT });
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-kill-'));
  const apiKey = `kill-test-key-${names.prefix}`;
  const env = {
    DATA_DIR: dataDir,
    AUTHENTICATION_API_KEY: apiKey,
    RABBITMQ_ENABLED: 'true',
    RABBITMQ_URI: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
    RABBITMQ_EXCHANGE_NAME: names.exchange,
    RABBITMQ_PREFIX_KEY: names.prefix,
    RABBITMQ_RETRY_MAX_DELAY_MS: '300',
  };
  const port = await freePort();
  const consumer = await consume(names.exchange, `${names.prefix}.#`);
  let child = await spawnPombo(env, port);
  const created = await fetch(`${child.url}/instance/create`, {
    method: 'POST',
    headers: { apikey: apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ instanceName: 'doomed', integration: 'INGEST', rabbitmq: { enabled: true } }),
  });
  assert.equal(created.status, 201);
  const flow = startFlow({ url: child.url, apiKey, instance: 'doomed', batch: 20 });
  try {
    await eventually(() => tallyOf(consumer.received).distinct > 200, 'events to flow before the kill', 20_000);
    proxy.cut();
    await eventually(async () => (await backlogOf(child.url, apiKey, 'doomed')) > 300, 'a backlog to build up');
    const beforeCatchUp = tallyOf(consumer.received).distinct;
    proxy.restore();
    await eventually(() => tallyOf(consumer.received).distinct > beforeCatchUp, 'the catch-up to start', 5000).catch(() => undefined);
    const backlogAtKill = await backlogOf(child.url, apiKey, 'doomed');
    await child.kill();
    t.diagnostic(`killed with ${flow.acknowledged.size - tallyOf(consumer.received).distinct} acknowledged events not yet received`);
    const acknowledgedAtKill = flow.acknowledged.size;
    child = await spawnPombo(env, port);
    await eventually(() => flow.acknowledged.size > acknowledgedAtKill + 100, 'the restarted Pombo to take events', 20_000);
    await flow.stop();

    const expected = [...flow.acknowledged];
    const tally = await eventually(() => {
      const current = tallyOf(consumer.received);
      return current.missing(expected).length === 0 ? current : undefined;
    }, 'every acknowledged event to arrive after the restart', 30_000);
    assert.ok(tally.duplicates <= backlogAtKill + SLACK, `${tally.duplicates} duplicates, backlog ${backlogAtKill} at the kill`);
    t.diagnostic(`kill -9: ${expected.length} events, ${tally.duplicates} duplicates (backlog ${backlogAtKill} at the kill), ${flow.failures} refused requests`);
  } finally {
    await flow.stop();
    await child.kill();
    await consumer.close();
    await proxy.close();
    rmSync(dataDir, { recursive: true, force: true });
    await cleanupRabbit(names.exchange, names.prefix, ['doomed']);
  }
});
