/**
 * bench/webhook: events appended to Pombo's log (SQLite, synchronous=FULL) and delivered by the
 * webhook channel to a local receiver that answers 200 at once, every delivery durably tracked
 * (WEBHOOK_DELIVERY_LOG=all, the default). In the same run, the baseline: a plain undici loop posting the same payloads to the
 * same receiver with the same concurrency, the practical ceiling on this machine. Then latency at a
 * steady 1,000 events/s, and a receiver failing 30% of requests, where every event must still arrive.
 * Drain: the same events appended while the instance's webhook is disabled (its cursor kept), then the
 * webhook enabled again; only the delivery of that stored backlog is timed (read from the log, envelope,
 * POST, every delivery recorded and the cursor at the head), against the same undici loop, which
 * pays no append either.
 * The receiver runs in a worker thread and measures append → receipt from a timestamp in each event.
 *
 *   node --import tsx bench/webhook.ts [--events 20000] [--concurrency 32] [--rounds 3] [--seconds 10] [--sync normal] [--delivery-log failures]
 *
 * BENCH_PROFILE_DIR=/tmp/prof writes a CPU profile of the main thread for Pombo's end-to-end and drain
 * phases and for the undici loop's rounds (`webhook-end-to-end-<round>.cpuprofile`, `webhook-baseline-…`),
 * summed by `bench/profile-summary.ts`: both sides pay the profiler, and their main threads compare.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Agent } from 'undici';
import { loadConfig } from '../packages/server/src/config/index.ts';
import { createLogger } from '../packages/server/src/ops/logger.ts';
import { createPombo, type Pombo } from '../packages/server/src/pombo.ts';
import type { Emit } from '../packages/server/src/instances/instance-service.ts';
import type { Instance } from '../packages/server/src/store/types.ts';
import { instanceWebhook } from '../packages/server/src/channels/webhook/webhook-config.ts';
import { machine } from './machine.ts';
import { phaseProfiler } from './profile.ts';
import { Receiver } from './webhook/receiver.ts';

const arg = (name: string, fallback: number): number => Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) || fallback;
const EVENTS = arg('events', 20_000);
const CONCURRENCY = arg('concurrency', 32);
const STEADY_SECONDS = arg('seconds', 10);
const STEADY_RATE = 1000;
/** `--sync normal` measures without the disk sync of each append (DATABASE_SQLITE_SYNCHRONOUS=normal). */
const SYNC = process.argv.includes('--sync') ? (process.argv[process.argv.indexOf('--sync') + 1] ?? 'full') : 'full';
/** `--delivery-log failures` measures without a record of each delivered event (WEBHOOK_DELIVERY_LOG=failures). */
const DELIVERY_LOG = process.argv.includes('--delivery-log') ? (process.argv[process.argv.indexOf('--delivery-log') + 1] ?? 'all') : 'all';
const FAILING_EVENTS = Math.min(EVENTS, 5000);
/** Throughput rounds, Pombo and the loop alternating (after one pass of each, not measured), so both see the same machine; medians are reported. */
const ROUNDS = arg('rounds', 3);
const APPEND_BATCH = 100;
/** Events delivered before the drain's webhook is disabled: its cursor is saved and its code paths warm. */
const DRAIN_WARMUP = 1000;
const PRODUCERS = 4;

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- payloads ---------------------------------------------------------------------------------

let counter = 0;

/** MESSAGES_UPSERT data shaped like Evolution API's, with `t`: when it was handed to Pombo (or to the baseline). */
function data(): Record<string, unknown> {
  const n = counter++;
  return {
    key: { remoteJid: `55119${String(n % 1000).padStart(8, '0')}@s.whatsapp.net`, fromMe: false, id: `3EB0BENCH${n}` },
    pushName: 'Bench',
    message: { conversation: `message number ${n}` },
    messageType: 'conversation',
    messageTimestamp: 1_700_000_000 + n,
    t: now(),
  };
}

const emits = (count: number): Emit[] => Array.from({ length: count }, () => ({ event: 'MESSAGES_UPSERT', data: data() }));

// ---- Pombo ------------------------------------------------------------------------------------

interface Running {
  pombo: Pombo;
  instance: Instance;
  dir: string;
}

async function startPombo(url: string, env: Record<string, string> = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-bench-webhook-'));
  const config = loadConfig({ DATA_DIR: dir, AUTHENTICATION_API_KEY: randomUUID(), LOG_LEVEL: 'silent', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_MAX_IN_FLIGHT: String(CONCURRENCY), DATABASE_SQLITE_SYNCHRONOUS: SYNC, WEBHOOK_DELIVERY_LOG: DELIVERY_LOG, ...env }, dir);
  const pombo = await createPombo(config, createLogger('silent'));
  const webhook = await pombo.context.channels.get('webhook')?.parseConfig({ url }, 'webhook');
  const instance = await pombo.context.instances.create({ instanceName: 'bench', integration: 'INGEST', channels: { webhook } });
  await sleep(50);
  return { pombo, instance, dir };
}

async function stopPombo({ pombo, dir }: Running): Promise<void> {
  await pombo.close();
  rmSync(dir, { recursive: true, force: true });
}

/** Appends `count` events as fast as the log takes them: batches from a few concurrent producers, as the ingest API would. */
async function appendAll({ pombo, instance }: Running, count: number): Promise<void> {
  let sent = 0;
  const producer = async () => {
    while (sent < count) {
      const batch = Math.min(APPEND_BATCH, count - sent);
      sent += batch;
      await pombo.context.instances.emitMany(instance, emits(batch));
    }
  };
  await Promise.all(Array.from({ length: PRODUCERS }, producer));
}

/** Appends at a steady `rate` per second for `seconds`, a few events at a time as they fall due. */
async function appendSteadily({ pombo, instance }: Running, rate: number, seconds: number): Promise<number> {
  const total = rate * seconds;
  const start = now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) * rate) / 1000));
    if (due > sent) {
      const batch = due - sent;
      sent = due;
      void pombo.context.instances.emitMany(instance, emits(batch));
    }
    await sleep(1);
  }
  return total;
}

// ---- the baseline -----------------------------------------------------------------------------

/** A plain undici loop: `concurrency` callers posting envelopes of the same shape, one after another. */
async function undiciLoop(url: string, count: number, concurrency: number): Promise<void> {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const { origin, pathname } = new URL(url);
  let next = 0;
  const caller = async () => {
    while (next < count) {
      const n = next++;
      const body = JSON.stringify({
        id: `evt_${n}`,
        event: 'messages.upsert',
        instance: 'bench',
        data: data(),
        destination: url,
        date_time: new Date().toISOString(),
        sender: null,
        server_url: 'http://localhost:8080',
        apikey: null,
      });
      const response = await agent.request({ origin, path: pathname, method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await response.body.dump();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  await agent.close();
}

// ---- measurements -----------------------------------------------------------------------------

const quantile = (values: number[], q: number): number => {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};

interface Result {
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  unique: number;
  duplicates: number;
  /** CPU time of the whole process (Pombo or the loop, and the receiver thread) per event, in µs: robust to a busy machine. */
  cpuUsPerEvent: number;
}

async function measure(receiver: Receiver, expected: number, failRate: number, produce: () => Promise<unknown>): Promise<Result> {
  const done = receiver.expect(expected, failRate);
  const cpu = process.cpuUsage();
  const start = now();
  await produce();
  const end = Math.max(await done, now());
  const used = process.cpuUsage(cpu);
  const stats = await receiver.stats();
  return {
    eventsPerSecond: expected / ((end - start) / 1000),
    p50Ms: quantile(stats.latenciesMs, 0.5),
    p99Ms: quantile(stats.latenciesMs, 0.99),
    maxMs: Math.max(...stats.latenciesMs),
    requests: stats.requests,
    unique: stats.unique,
    duplicates: stats.accepted - stats.unique,
    cpuUsPerEvent: (used.user + used.system) / expected,
  };
}

async function pomboThroughput(receiver: Receiver, url: string): Promise<Result> {
  const running = await startPombo(url);
  try {
    return await profiled('webhook-end-to-end', () => measure(receiver, EVENTS, 0, () => appendAll(running, EVENTS)));
  } finally {
    await stopPombo(running);
  }
}

const profiler = phaseProfiler(process.env.BENCH_PROFILE_DIR);

/** Runs a phase under the CPU profiler when BENCH_PROFILE_DIR is set (the receiver's thread left out). */
async function profiled<T>(phase: string, run: () => Promise<T>): Promise<T> {
  const profile = await profiler.start(phase);
  try {
    return await run();
  } finally {
    await profile.stop();
  }
}

/** Resolves once the destination's cursor is at the log's head: every delivery recorded. */
async function caughtUp(pombo: Pombo, destination: string): Promise<void> {
  while (pombo.context.dispatcher.lag(destination) !== 0) await sleep(2);
}

/** Sets the instance's webhook off or on; off keeps its cursor, so on again drains the backlog, as `POST /webhook/enable` does (`/webhook/set` would skip it: webhook-pause.ts). */
async function setWebhook({ pombo, instance }: Running, url: string, enabled: boolean): Promise<void> {
  const webhook = await pombo.context.channels.get('webhook')?.parseConfig({ url, enabled }, 'webhook');
  await pombo.context.instances.editChannels(instance.id, () => ({ webhook }));
}

async function pomboDrain(receiver: Receiver, url: string): Promise<Result> {
  const running = await startPombo(url);
  const destination = instanceWebhook(running.instance.id);
  try {
    const warm = receiver.expect(DRAIN_WARMUP);
    await appendAll(running, DRAIN_WARMUP);
    await warm;
    await caughtUp(running.pombo, destination);
    await setWebhook(running, url, false);
    await appendAll(running, EVENTS);
    return await profiled('webhook-drain', () =>
      measure(receiver, EVENTS, 0, async () => {
        await setWebhook(running, url, true);
        await caughtUp(running.pombo, destination);
      }),
    );
  } finally {
    await stopPombo(running);
  }
}

/** The round with the median rate. */
const median = (results: Result[]): Result => [...results].sort((a, b) => a.eventsPerSecond - b.eventsPerSecond)[Math.floor(results.length / 2)] as Result;

async function throughput(
  receiver: Receiver,
  url: string,
): Promise<{ pombo: Result; drain: Result; baseline: Result; rounds: Array<{ pombo: number; drain: number; baseline: number }> }> {
  const baselines: Result[] = [];
  const pombos: Result[] = [];
  const drains: Result[] = [];
  // One pass of each, not measured: the loop's first pass (undici, the receiver thread) runs cold, and
  // a measured cold loop made Pombo's first ratio look better than it is.
  await measure(receiver, EVENTS, 0, () => undiciLoop(url, EVENTS, CONCURRENCY));
  await pomboThroughput(receiver, url);
  for (let round = 0; round < ROUNDS; round++) {
    baselines.push(await profiled('webhook-baseline', () => measure(receiver, EVENTS, 0, () => undiciLoop(url, EVENTS, CONCURRENCY))));
    pombos.push(await pomboThroughput(receiver, url));
    drains.push(await pomboDrain(receiver, url));
  }
  const rate = (results: Result[], i: number): number => Math.round(results[i]?.eventsPerSecond ?? 0);
  const rounds = pombos.map((_, i) => ({ pombo: rate(pombos, i), drain: rate(drains, i), baseline: rate(baselines, i) }));
  return { pombo: median(pombos), drain: median(drains), baseline: median(baselines), rounds };
}

async function steady(receiver: Receiver, url: string): Promise<Result> {
  const running = await startPombo(url);
  try {
    return await measure(receiver, STEADY_RATE * STEADY_SECONDS, 0, () => appendSteadily(running, STEADY_RATE, STEADY_SECONDS));
  } finally {
    await stopPombo(running);
  }
}

async function failing(receiver: Receiver, url: string): Promise<Result> {
  const running = await startPombo(url, {
    WEBHOOK_RETRY_INITIAL_DELAY_SECONDS: '0.05',
    WEBHOOK_RETRY_MAX_DELAY_SECONDS: '1',
    WEBHOOK_RETRY_MAX_ATTEMPTS: '100',
  });
  try {
    return await measure(receiver, FAILING_EVENTS, 0.3, () => appendAll(running, FAILING_EVENTS));
  } finally {
    await stopPombo(running);
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => n.toFixed(1);

const receiver = new Receiver();
try {
  const url = await receiver.url;
  const load = loadavg()[0] ?? 0;
  const { pombo, drain, baseline, rounds } = await throughput(receiver, url);
  const steadyResult = await steady(receiver, url);
  const failingResult = await failing(receiver, url);
  const ratio = pombo.eventsPerSecond / baseline.eventsPerSecond;
  const drainRatio = drain.eventsPerSecond / baseline.eventsPerSecond;
  console.log(
    `bench/webhook: ${machine()}; SQLite synchronous=${SYNC.toUpperCase()}; delivery log: ${DELIVERY_LOG}; concurrency ${CONCURRENCY}; throughput: median of ${ROUNDS} alternating rounds; load average ${load.toFixed(1)} at start, ${(loadavg()[0] ?? 0).toFixed(1)} at end\n`,
  );
  console.log('| run | events | events/s | p50 ms | p99 ms | max ms | requests | duplicates | CPU µs/event | target |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  console.log(`| plain undici loop (ceiling) | ${fmt(EVENTS)} | ${fmt(baseline.eventsPerSecond)} | ${ms(baseline.p50Ms)} | ${ms(baseline.p99Ms)} | ${ms(baseline.maxMs)} | ${fmt(baseline.requests)} | ${baseline.duplicates} | ${fmt(baseline.cpuUsPerEvent)} | |`);
  console.log(
    `| Pombo, as fast as appended | ${fmt(EVENTS)} | ${fmt(pombo.eventsPerSecond)} | ${ms(pombo.p50Ms)} | ${ms(pombo.p99Ms)} | ${ms(pombo.maxMs)} | ${fmt(pombo.requests)} | ${pombo.duplicates} | ${fmt(pombo.cpuUsPerEvent)} | ≥ 70% of the loop (issue 14): ${(ratio * 100).toFixed(0)}% ${ratio >= 0.7 ? 'met' : 'missed'} |`,
  );
  console.log(
    `| Pombo, draining a stored backlog | ${fmt(EVENTS)} | ${fmt(drain.eventsPerSecond)} | – | – | – | ${fmt(drain.requests)} | ${drain.duplicates} | ${fmt(drain.cpuUsPerEvent)} | ≥ 60% of the loop: ${(drainRatio * 100).toFixed(0)}% ${drainRatio >= 0.6 ? 'met' : 'missed'} |`,
  );
  console.log(
    `| Pombo, steady ${fmt(STEADY_RATE)}/s for ${STEADY_SECONDS} s | ${fmt(STEADY_RATE * STEADY_SECONDS)} | ${fmt(steadyResult.eventsPerSecond)} | ${ms(steadyResult.p50Ms)} | ${ms(steadyResult.p99Ms)} | ${ms(steadyResult.maxMs)} | ${fmt(steadyResult.requests)} | ${steadyResult.duplicates} | ${fmt(steadyResult.cpuUsPerEvent)} | p99 < 50 ms: ${steadyResult.p99Ms < 50 ? 'met' : 'missed'} |`,
  );
  const allArrived = failingResult.unique === FAILING_EVENTS;
  console.log(
    `| Pombo, receiver failing 30% | ${fmt(FAILING_EVENTS)} | ${fmt(failingResult.eventsPerSecond)} | ${ms(failingResult.p50Ms)} | ${ms(failingResult.p99Ms)} | ${ms(failingResult.maxMs)} | ${fmt(failingResult.requests)} | ${failingResult.duplicates} | ${fmt(failingResult.cpuUsPerEvent)} | every event arrives: ${allArrived ? 'met' : 'missed'} (${fmt(failingResult.unique)}) |`,
  );
  console.log(
    `\nPombo / plain undici loop: end to end ${ratio.toFixed(2)}, drain ${drainRatio.toFixed(2)} (rounds, events/s end to end / drain vs loop: ${rounds.map((r) => `${fmt(r.pombo)} / ${fmt(r.drain)} vs ${fmt(r.baseline)}`).join('; ')})`,
  );
  console.log(JSON.stringify({ bench: 'webhook', machine: machine(), loadAverage: load, concurrency: CONCURRENCY, ratio, drainRatio, rounds, baseline, pombo, drain, steady: steadyResult, failing: failingResult }));
  if (!allArrived) process.exitCode = 1;
} finally {
  await receiver.close();
}
