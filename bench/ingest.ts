/**
 * bench/ingest: events per second appended through `POST /events/:instanceName`, one event per
 * request and 100 per request, durable in SQLite (synchronous=FULL), with request latency.
 * Two baselines run in the same process and the same run, so the ratios survive a noisy machine:
 * the raw store append rate (no HTTP) and a bare Fastify server that only parses the same bodies
 * (HTTP with no work). The load comes from another process over keep-alive connections, so this
 * process's CPU time is the server's: the CPU cost per event, and the rate one dedicated core
 * would sustain, are printed too (they hold even when other work shares the machine).
 *
 *   node --import tsx bench/ingest.ts [--seconds 5]
 *
 * BENCH_PROFILE_DIR=<dir> writes a CPU profile of Pombo's runs (`ingest-single-1.cpuprofile`, …).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import { loadConfig } from '../packages/server/src/config/index.ts';
import { createLogger } from '../packages/server/src/ops/logger.ts';
import { createPombo } from '../packages/server/src/pombo.ts';
import { SqliteStore } from '../packages/server/src/store/sqlite/sqlite-store.ts';
import type { AppendRequest } from '../packages/server/src/store/types.ts';
import type { LoadPlan, LoadResult } from './http-load.ts';
import { machine } from './machine.ts';
import { phaseProfiler } from './profile.ts';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 5;
const MEASURE_MS = seconds * 1000;
const WARMUP_MS = 1000;
const profiler = phaseProfiler(process.env.BENCH_PROFILE_DIR);
const MODES = [
  { name: 'single', label: 'single (1 event/request, 64 connections)', batch: 1, connections: 64, target: 5_000 },
  { name: 'batched', label: 'batched (100 events/request, 16 connections)', batch: 100, connections: 16, target: 100_000 },
] as const;
type Mode = (typeof MODES)[number];

interface Rate {
  eventsPerSecond: number;
  /** This process's CPU time (user + system) per event acknowledged. */
  cpuMicrosPerEvent: number;
  p50Ms?: number;
  p99Ms?: number;
}

/** CPU microseconds this process spent since `start`. */
const cpuSince = (start: NodeJS.CpuUsage): number => {
  const { user, system } = process.cpuUsage(start);
  return user + system;
};

/** The raw store: as many concurrent callers as the HTTP run has connections, each appending `batch` events per call. */
async function rawStoreRate(dir: string, mode: Mode): Promise<Rate> {
  const store = new SqliteStore(join(dir, `raw-${mode.name}.db`), { synchronous: 'full' });
  const instance = await store.createInstance({ id: randomUUID(), name: 'raw', token: randomUUID(), integration: 'INGEST', number: null, channels: {} });
  let n = 0;
  const request = (): AppendRequest => ({
    instanceId: instance.id,
    event: 'MESSAGES_UPSERT',
    data: { key: { remoteJid: '5511900000000@s.whatsapp.net', fromMe: false, id: `3EB0RAW${n++}` }, message: { conversation: `message ${n}` } },
  });
  const measureFrom = performance.now() + WARMUP_MS;
  const end = measureFrom + MEASURE_MS;
  let events = 0;
  let cpuStart = process.cpuUsage();
  const caller = async () => {
    for (let now = performance.now(); now < end; now = performance.now()) {
      await store.append(Array.from({ length: mode.batch }, request));
      if (now >= measureFrom) events += mode.batch;
    }
  };
  setTimeout(() => (cpuStart = process.cpuUsage()), WARMUP_MS);
  await Promise.all(Array.from({ length: mode.connections }, caller));
  const cpu = cpuSince(cpuStart);
  await store.close();
  return { eventsPerSecond: events / (MEASURE_MS / 1000), cpuMicrosPerEvent: cpu / events };
}

const LOAD = new URL('./http-load.ts', import.meta.url).pathname;

/** Runs the load generator in a child process; the CPU this process spent meanwhile is the server's. */
async function loadRate(url: string, headers: Record<string, string>, mode: Mode): Promise<Rate & { acknowledged: number }> {
  const plan: LoadPlan = { urls: [url], paths: ['/events/bench'], headers, batch: mode.batch, connections: mode.connections, warmupMs: WARMUP_MS, measureMs: MEASURE_MS };
  const cpuStart = process.cpuUsage();
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', import.meta.resolve('tsx'), LOAD, JSON.stringify(plan)]);
  const cpu = cpuSince(cpuStart);
  const result = JSON.parse(stdout) as LoadResult;
  if (result.errors) throw new Error(`${result.errors} requests failed`);
  const { p50, p99 } = result.latenciesMs;
  return {
    eventsPerSecond: result.events / (result.elapsedMs / 1000),
    cpuMicrosPerEvent: cpu / result.acknowledged,
    p50Ms: p50,
    p99Ms: p99,
    acknowledged: result.acknowledged,
  };
}

/** HTTP with no work: Fastify parsing the same JSON bodies and answering 201. */
async function bareHttpRate(mode: Mode): Promise<Rate> {
  const app = Fastify({ bodyLimit: 10 * 1024 * 1024 });
  app.post('/events/:instanceName', async (request, reply) => {
    reply.code(201);
    return { appended: Array.isArray(request.body) ? request.body.length : 1 };
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    return await loadRate(url, { 'content-type': 'application/json' }, mode);
  } finally {
    await app.close();
  }
}

/** Pombo with its defaults, durable SQLite; checks afterwards that every acknowledged event is in the log. */
async function pomboRate(dir: string, mode: Mode): Promise<Rate & { lost: number }> {
  const apiKey = randomUUID();
  const config = loadConfig({ DATA_DIR: dir, AUTHENTICATION_API_KEY: apiKey, DATABASE_SQLITE_SYNCHRONOUS: 'full', LOG_LEVEL: 'silent' }, dir);
  const pombo = await createPombo(config, createLogger('silent'));
  const url = (await pombo.listen(0)).replace('0.0.0.0', '127.0.0.1');
  const headers = { apikey: apiKey, 'content-type': 'application/json' };
  await fetch(`${url}/instance/create`, { method: 'POST', headers, body: JSON.stringify({ instanceName: 'bench', integration: 'INGEST' }) });
  try {
    const profile = await profiler.start(`ingest-${mode.name}`);
    const { acknowledged, ...rate } = await loadRate(url, headers, mode).finally(() => profile.stop());
    const instance = pombo.context.instances.get('bench');
    const stored = (await pombo.context.store.read({ instanceId: instance.id, limit: 1 << 30 })).length - 1;
    return { ...rate, lost: acknowledged - stored };
  } finally {
    await pombo.close();
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined): string => (n ?? 0).toFixed(1);
const ratio = (a: Rate, b: Rate): string => (a.eventsPerSecond / b.eventsPerSecond).toFixed(2);

const dir = mkdtempSync(join(tmpdir(), 'pombo-bench-ingest-'));
try {
  const load1 = loadavg()[0] ?? 0;
  const results = [];
  for (const mode of MODES) {
    const raw = await rawStoreRate(dir, mode);
    const bare = await bareHttpRate(mode);
    const pombo = await pomboRate(mkdtempSync(join(dir, `pombo-${mode.name}-`)), mode);
    results.push({ mode, raw, bare, pombo });
  }
  console.log(`bench/ingest: ${machine()}; SQLite synchronous=FULL; ${seconds} s per run after 1 s warm-up; load average ${load1.toFixed(1)} at start\n`);
  console.log('| mode | Pombo events/s | p50 ms | p99 ms | bare Fastify events/s | raw store events/s | Pombo / bare HTTP | Pombo / raw store | target |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const { mode, raw, bare, pombo } of results) {
    const verdict = pombo.eventsPerSecond >= mode.target ? 'met' : 'missed';
    console.log(
      `| ${mode.label} | ${fmt(pombo.eventsPerSecond)} | ${ms(pombo.p50Ms)} | ${ms(pombo.p99Ms)} | ${fmt(bare.eventsPerSecond)} | ${fmt(raw.eventsPerSecond)} | ${ratio(pombo, bare)} | ${ratio(pombo, raw)} | ≥ ${fmt(mode.target)}: ${verdict} |`,
    );
  }
  console.log('\nCPU of the server process per event (µs), and the events/s one dedicated core would sustain at that cost:\n');
  console.log('| mode | Pombo | bare Fastify | raw store | Pombo events/s per core |');
  console.log('|---|---|---|---|---|');
  for (const { mode, raw, bare, pombo } of results) {
    const cpu = (rate: Rate) => rate.cpuMicrosPerEvent.toFixed(1);
    console.log(`| ${mode.name} | ${cpu(pombo)} | ${cpu(bare)} | ${cpu(raw)} | ${fmt(1e6 / pombo.cpuMicrosPerEvent)} |`);
  }
  const lost = results.reduce((sum, { pombo }) => sum + pombo.lost, 0);
  console.log(`\nacknowledged events missing from the log: ${lost}`);
  console.log(JSON.stringify({ bench: 'ingest', machine: machine(), loadAverage: load1, seconds, results: results.map(({ mode, raw, bare, pombo }) => ({ mode: mode.name, pombo, bare, raw })) }));
  if (lost !== 0) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
