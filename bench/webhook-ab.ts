/**
 * bench/webhook-ab: two builds of Pombo in one process, taking turns on the webhook phases of
 * bench/webhook.ts (end to end: append + deliver; drain: a stored backlog), beside the same undici
 * loop. On a shared 2-core machine separate runs of each build land anywhere within ±20 %; here both
 * builds and the loop see the same minute, and the answer is their ratio round by round.
 * `<before>` is another checkout of this repository (a worktree of the commit before, with its own
 * node_modules): its modules, undici included, are loaded from there.
 *
 *   node --import tsx bench/webhook-ab.ts <before> [--rounds 4] [--events 20000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Agent } from 'undici';
import { machine } from './machine.ts';
import { Receiver } from './webhook/receiver.ts';

const arg = (name: string, fallback: number): number => Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) || fallback;
const ROUNDS = arg('rounds', 4);
const EVENTS = arg('events', 20_000);
const WARMUP = 1000;
const CONCURRENCY = 32;
const before = process.argv[2];
if (!before || before.startsWith('--')) throw new Error('usage: node --import tsx bench/webhook-ab.ts <checkout of the build before> [--rounds 4] [--events 20000]');

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** What a phase needs of a build: loaded from its checkout, so each build runs its own code. */
async function build(root: string) {
  const server = `${resolve(root)}/packages/server/src`;
  return {
    root,
    loadConfig: (await import(`${server}/config/index.ts`)).loadConfig,
    createLogger: (await import(`${server}/ops/logger.ts`)).createLogger,
    createPombo: (await import(`${server}/pombo.ts`)).createPombo,
    instanceWebhook: (await import(`${server}/channels/webhook/webhook-config.ts`)).instanceWebhook as (id: string) => string,
  };
}
type Build = Awaited<ReturnType<typeof build>>;

let counter = 0;
/** MESSAGES_UPSERT data as bench/webhook.ts sends it. */
function data(): Record<string, unknown> {
  const n = counter++;
  return {
    key: { remoteJid: `55119${String(n % 1000).padStart(8, '0')}@s.whatsapp.net`, fromMe: false, id: `3EB0AB${n}` },
    pushName: 'Bench',
    message: { conversation: `message number ${n}` },
    messageType: 'conversation',
    messageTimestamp: 1_700_000_000 + n,
    t: now(),
  };
}

interface Rate {
  eventsPerSecond: number;
  /** CPU of the whole process (the receiver thread included) per event, µs. */
  cpuUs: number;
}

const receiver = new Receiver();
const url = await receiver.url;

async function timed(count: number, work: () => Promise<unknown>): Promise<Rate> {
  const done = receiver.expect(count);
  const cpu = process.cpuUsage();
  const start = now();
  await work();
  const end = Math.max(await done, now());
  const used = process.cpuUsage(cpu);
  return { eventsPerSecond: Math.round((count * 1000) / (end - start)), cpuUs: Math.round((used.user + used.system) / count) };
}

async function undiciLoop(count: number): Promise<Rate> {
  return timed(count, async () => {
    const agent = new Agent({ keepAliveTimeout: 30_000 });
    const { origin, pathname } = new URL(url);
    let next = 0;
    const caller = async () => {
      while (next < count) {
        const id = `evt_ab_${counter}_${next++}`;
        const body = JSON.stringify({ id, event: 'messages.upsert', instance: 'bench', data: data(), destination: url, date_time: new Date().toISOString(), sender: null, server_url: 'http://localhost:8080', apikey: null });
        const response = await agent.request({ origin, path: pathname, method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await response.body.dump();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, caller));
    await agent.close();
  });
}

/** A fresh Pombo of `b` with one instance whose webhook posts to the receiver; stopped and removed after `run`. */
async function withPombo<T>(b: Build, run: (pombo: any, instance: any) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-bench-ab-'));
  const config = b.loadConfig({ DATA_DIR: dir, AUTHENTICATION_API_KEY: randomUUID(), LOG_LEVEL: 'silent', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_MAX_IN_FLIGHT: String(CONCURRENCY) }, dir);
  const pombo = await b.createPombo(config, b.createLogger('silent'));
  try {
    const webhook = await pombo.context.channels.get('webhook')?.parseConfig({ url }, 'webhook');
    const instance = await pombo.context.instances.create({ instanceName: 'bench', integration: 'INGEST', channels: { webhook } });
    await sleep(50);
    return await run(pombo, instance);
  } finally {
    await pombo.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Appends as bench/webhook.ts does: four producers, batches of 100. */
async function appendAll(pombo: any, instance: any, count: number): Promise<void> {
  let sent = 0;
  const producer = async () => {
    while (sent < count) {
      const batch = Math.min(100, count - sent);
      sent += batch;
      await pombo.context.instances.emitMany(instance, Array.from({ length: batch }, () => ({ event: 'MESSAGES_UPSERT', data: data() })));
    }
  };
  await Promise.all(Array.from({ length: 4 }, producer));
}

const endToEnd = (b: Build): Promise<Rate> =>
  withPombo(b, async (pombo, instance) => {
    await timed(WARMUP, () => appendAll(pombo, instance, WARMUP));
    return timed(EVENTS, () => appendAll(pombo, instance, EVENTS));
  });

const drain = (b: Build): Promise<Rate> =>
  withPombo(b, async (pombo, instance) => {
    const destination = b.instanceWebhook(instance.id);
    const caughtUp = async () => {
      while (pombo.context.dispatcher.lag(destination) !== 0) await sleep(2);
    };
    const setWebhook = async (enabled: boolean) => {
      const webhook = await pombo.context.channels.get('webhook')?.parseConfig({ url, enabled }, 'webhook');
      return pombo.context.instances.editChannels(instance.id, () => ({ webhook }));
    };
    await timed(WARMUP, () => appendAll(pombo, instance, WARMUP));
    await caughtUp();
    await setWebhook(false);
    await appendAll(pombo, instance, EVENTS);
    return timed(EVENTS, async () => {
      await setWebhook(true);
      await caughtUp();
    });
  });

/** Runs `phase` for both builds, the one before first or second; answers before's rate, then after's. */
async function inTurn(builds: readonly [Build, Build], beforeFirst: boolean, phase: (b: Build) => Promise<Rate>): Promise<[Rate, Rate]> {
  if (beforeFirst) {
    const first = await phase(builds[0]);
    return [first, await phase(builds[1])];
  }
  const after = await phase(builds[1]);
  return [await phase(builds[0]), after];
}

const fmt = (rate: Rate): string => `${rate.eventsPerSecond.toLocaleString('en-US')} (${rate.cpuUs})`;

try {
  const builds: [Build, Build] = [await build(before), await build(fileURLToPath(new URL('..', import.meta.url)))];
  // Everything warm before the first round: the loop, the receiver thread, both builds.
  await undiciLoop(5000);
  for (const b of builds) await endToEnd(b);
  console.log(`bench/webhook-ab: ${machine()}; ${EVENTS} events per phase; before = ${before}, after = this checkout`);
  console.log('events/s (CPU µs/event of the process); ratios against the loop of the same round, then after / before\n');
  console.log('| round | load | loop | end to end before | after | after / before | drain before | after | after / before |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (let round = 0; round < ROUNDS; round++) {
    // The builds swap places every round, so neither always runs right after the loop.
    const beforeFirst = round % 2 === 0;
    const load = (loadavg()[0] ?? 0).toFixed(1);
    const loop = await undiciLoop(EVENTS);
    const [e0, e1] = await inTurn(builds, beforeFirst, endToEnd);
    const [d0, d1] = await inTurn(builds, beforeFirst, drain);
    const of = (rate: Rate) => (rate.eventsPerSecond / loop.eventsPerSecond).toFixed(2);
    const gain = (a: Rate, b: Rate) => (b.eventsPerSecond / a.eventsPerSecond).toFixed(2);
    console.log(`| ${round + 1} | ${load} | ${fmt(loop)} | ${fmt(e0)}: ${of(e0)} | ${fmt(e1)}: ${of(e1)} | ${gain(e0, e1)} | ${fmt(d0)}: ${of(d0)} | ${fmt(d1)}: ${of(d1)} | ${gain(d0, d1)} |`);
  }
} finally {
  await receiver.close();
}
