import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { startFlow, Tally, type Flow } from '../helpers/event-flow.ts';
import { eventually, startPombo, uniqueName } from '../helpers/pombo-harness.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

/**
 * The channel suite every broker runs: a broker outage while events flow, and a kill -9 of Pombo
 * mid-stream. Each checks what docs/brokers.md promises: every acknowledged event arrives, the
 * duplicates stay within what was not yet confirmed, and (for ordered destinations) the last copy of
 * every event arrives in log order. Each broker says how to enable it and how a user's consumer reads
 * an instance's MESSAGES_UPSERT events.
 */
export interface LossSubject {
  /** `rabbitmq`, `nats`, `kafka`, `sqs` or `pusher`: the config key and the `/{channel}/find` route. */
  readonly channel: string;
  readonly env: Record<string, string>;
  /** The instance's channel config. */
  readonly config: Record<string, unknown>;
  /** Whether the consumer sees the instance's events in order (last copies in log order); false for an SQS standard queue. */
  readonly ordered: boolean;
  /** A consumer of the instance's MESSAGES_UPSERT events: the flow numbers (`data.n`) received so far. */
  consume(instance: string): Promise<{ numbers(): Promise<number[]>; close(): Promise<void> }>;
  /**
   * The consumer gets only what is published while it listens (a core NATS subscriber): it starts before
   * the flow. Others start after it, as they wait for what the first publish creates (a queue, a topic).
   */
  readonly live?: boolean;
  /** Broker-specific checks once every acknowledged number arrived (say, a JetStream stream holding each once). */
  verify?(instance: string, acknowledged: readonly number[]): Promise<void>;
}

/**
 * Only events past the destination's cursor can be published twice: the backlog that `find` shows
 * just before a cut or a kill, what the flow appended while the cut was being made, and what it
 * appends in the moment between reading the backlog and the cut (at most about 1,000 events a second).
 */
const SLACK = 200;

export interface Disruption {
  cut(): Promise<void>;
  restore(): Promise<void>;
}

/** Runs a scenario with the broker (on loopback `port`) behind a TCP proxy whose cut is the disruption. */
export async function behindProxy(port: number, scenario: (proxy: TcpProxy, disruption: Disruption) => Promise<void>): Promise<void> {
  const proxy = await startTcpProxy({ port });
  try {
    await scenario(proxy, { cut: async () => proxy.cut(), restore: async () => proxy.restore() });
  } finally {
    await proxy.close();
  }
}

async function tallyOf(consumer: { numbers(): Promise<number[]> }): Promise<Tally> {
  const tally = new Tally();
  for (const n of await consumer.numbers()) tally.add(n);
  return tally;
}

/**
 * Waits until the consumer has every acknowledged number; on a timeout, says which are missing and
 * what `find` shows then (is the destination stuck, behind, or did it move past them?).
 */
async function everyAcknowledged(consumer: { numbers(): Promise<number[]> }, acknowledged: ReadonlySet<number>, what: string, state: () => Promise<unknown>): Promise<Tally> {
  const expected = [...acknowledged];
  try {
    return await eventually(async () => {
      const tally = await tallyOf(consumer);
      return tally.missing(expected).length === 0 ? tally : undefined;
    }, what, 90_000, 200);
  } catch (error) {
    const missing = (await tallyOf(consumer)).missing(expected);
    const found = await state().catch((failure: unknown) => `unavailable: ${String(failure)}`);
    throw new Error(`${(error as Error).message}: ${missing.length} of ${expected.length} missing (${missing.slice(0, 20).join(', ')}); find shows ${JSON.stringify(found)}`);
  }
}

/** The backlog `find` shows, and the flow's count then: together they bound the duplicates a disruption may cause. */
async function beforeDisruption(url: string, apiKey: string, channel: string, instance: string, flow: Flow): Promise<{ backlog: number; acknowledged: number }> {
  const acknowledged = flow.acknowledged.size;
  const found = await findOf(url, apiKey, channel, instance);
  return { backlog: found.state.backlog, acknowledged };
}

/** The checks every scenario ends with: duplicates within the bound, last copies in order, the broker's own. */
async function checkArrivals(t: TestContext, subject: LossSubject, instance: string, tally: Tally, flow: Flow, bound: number, what: string): Promise<void> {
  assert.ok(tally.duplicates <= bound, `${tally.duplicates} duplicates, at most ${bound} events were unconfirmed at the ${what} (${tally.describeRewinds()})`);
  if (subject.ordered) assert.ok(tally.lastCopiesInOrder, 'the last copy of every event arrived in log order');
  await subject.verify?.(instance, [...flow.acknowledged]);
  t.diagnostic(`${subject.channel} ${what}: ${flow.acknowledged.size} events, ${tally.duplicates} duplicates (at most ${bound}; ${tally.describeRewinds()}), ${flow.failures} refused requests`);
}

const findOf = async (url: string, apiKey: string, channel: string, instance: string): Promise<any> => {
  const response = await fetch(`${url}/${channel}/find/${instance}`, { headers: { apikey: apiKey } });
  return response.json();
};

export async function outageLosesNothing(t: TestContext, subject: LossSubject, disruption: Disruption): Promise<void> {
  const pombo = await startPombo(subject.env);
  const instance = uniqueName('stream');
  await pombo.api('POST', '/instance/create', { instanceName: instance, integration: 'INGEST', [subject.channel]: subject.config });
  const listening = subject.live ? await subject.consume(instance) : undefined;
  const flow = startFlow({ url: pombo.url, apiKey: pombo.apiKey, instance });
  const consumer = listening ?? (await subject.consume(instance));
  try {
    await eventually(async () => (await tallyOf(consumer)).distinct > 50, 'events to flow before the outage', 20_000);
    const before = await beforeDisruption(pombo.url, pombo.apiKey, subject.channel, instance, flow);
    await disruption.cut();
    const bound = before.backlog + (flow.acknowledged.size - before.acknowledged) + SLACK;
    const during = await eventually(async () => {
      const found = await findOf(pombo.url, pombo.apiKey, subject.channel, instance);
      return found.state.lastError && found.state.backlog > 0 ? found : undefined;
    }, 'find to show the outage', 20_000);
    const acknowledgedAtCut = flow.acknowledged.size;
    await sleep(2000);
    assert.ok(flow.acknowledged.size > acknowledgedAtCut, 'events were appended during the outage');
    await disruption.restore();
    await sleep(500);
    await flow.stop();

    const tally = await everyAcknowledged(consumer, flow.acknowledged, 'every acknowledged event to arrive after the outage', async () => (await findOf(pombo.url, pombo.apiKey, subject.channel, instance)).state);
    const after = await eventually(async () => {
      const found = await findOf(pombo.url, pombo.apiKey, subject.channel, instance);
      return found.state.backlog === 0 && found.state.lastError === null ? found : undefined;
    }, 'find to show the recovery');
    assert.equal(after.state.connection, 'connected');
    t.diagnostic(`outage: ${during.state.lastError}`);
    await checkArrivals(t, subject, instance, tally, flow, bound, 'outage');
  } finally {
    await flow.stop();
    await consumer.close();
    await pombo.close();
  }
}

/**
 * Kills Pombo with SIGKILL while it publishes (behind `backlog` when given, so that the kill lands
 * while a backlog is being caught up), restarts it on the same data folder, and checks that every
 * event Pombo acknowledged to its producer arrives.
 */
export async function killLosesNothing(t: TestContext, subject: LossSubject, backlog?: Disruption): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-kill-'));
  const apiKey = `kill-test-key-${uniqueName('k')}`;
  const env = { ...subject.env, DATA_DIR: dataDir, AUTHENTICATION_API_KEY: apiKey };
  const port = await freePort();
  const instance = uniqueName('doomed');
  let child = await spawnPombo(env, port);
  const created = await fetch(`${child.url}/instance/create`, {
    method: 'POST',
    headers: { apikey: apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ instanceName: instance, integration: 'INGEST', [subject.channel]: subject.config }),
  });
  assert.equal(created.status, 201);
  const listening = subject.live ? await subject.consume(instance) : undefined;
  const flow = startFlow({ url: child.url, apiKey, instance, batch: 20 });
  const consumer = listening ?? (await subject.consume(instance));
  try {
    await eventually(async () => (await tallyOf(consumer)).distinct > 200, 'events to flow before the kill', 20_000);
    if (backlog) {
      await backlog.cut();
      await eventually(async () => (await findOf(child.url, apiKey, subject.channel, instance)).state.backlog > 300, 'a backlog to build up');
      await backlog.restore();
    }
    const before = await beforeDisruption(child.url, apiKey, subject.channel, instance, flow);
    await child.kill();
    const acknowledgedAtKill = flow.acknowledged.size;
    const bound = before.backlog + (acknowledgedAtKill - before.acknowledged) + SLACK;
    t.diagnostic(`killed with ${acknowledgedAtKill - (await tallyOf(consumer)).distinct} acknowledged events not yet received`);
    child = await spawnPombo(env, port);
    await eventually(() => flow.acknowledged.size > acknowledgedAtKill + 100, 'the restarted Pombo to take events', 20_000);
    await flow.stop();

    const tally = await everyAcknowledged(consumer, flow.acknowledged, 'every acknowledged event to arrive after the restart', async () => (await findOf(child.url, apiKey, subject.channel, instance)).state);
    await checkArrivals(t, subject, instance, tally, flow, bound, 'kill -9');
  } finally {
    await flow.stop();
    await child.kill();
    await consumer.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
