/**
 * bench/cluster: Pombo as 1, 2 and 3 real processes on one PostgreSQL database (cluster mode, a fresh
 * schema each), beside one Pombo on PostgreSQL without cluster mode and one on SQLite, all in the same
 * run and on the same machine, so that the ratios (N nodes / 1 node, PostgreSQL / SQLite) survive a
 * noisy machine. Two figures per setup:
 *
 * - ingest: durable events/s through `POST /events/:instanceName` to several instances, batches of
 *   100 from one load process whose keep-alive connections are spread over every node (the load of
 *   bench/ingest.ts); every acknowledged event must be in the log (the instances' `seq`s say how
 *   many were appended);
 * - webhooks, end to end: a fixed number of events posted the same way to several instances, each
 *   with a webhook to one local receiver (so that their leases spread over the nodes), timed from the
 *   first post until the receiver has every event once.
 *
 * Where the CPU goes (Pombo's nodes, PostgreSQL, the load generator, this process with the receiver,
 * the machine as a whole, from /proc) and what the nodes' PostgreSQL backends do (running, waiting for
 * the append lock or a row lock, idle in a transaction while the node gets to its next statement),
 * with the append commits per second and the nodes' connections, are printed for each run: they say
 * whether the limit is Pombo, the database or the machine.
 *
 *   node --import tsx bench/cluster.ts [--seconds 5] [--events 48000] [--warmup-events 12000] [--instances 12] [--connections 48] [--receiver lean|http] [--only sqlite,cluster-3]
 *
 * BENCH_POSTGRES_URI is the PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/test, a schema
 * of its own per setup, dropped after). BENCH_NODE_ARGS adds Node.js flags to the nodes (a profiler: `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { callApi, freePort, spawnPombo, type ChildPombo } from '../packages/server/test/helpers/child-pombo.ts';
import { eventually } from '../packages/server/test/helpers/pombo-harness.ts';
import { PostgresSampler, type PostgresStats } from './cluster/postgres-sampler.ts';
import { CpuMeter, type CpuSnapshot, type CpuUsage } from './cluster/cpu-meter.ts';
import type { LoadMessage, LoadPlan, LoadResult } from './http-load.ts';
import { machine } from './machine.ts';
import { Receiver } from './webhook/receiver.ts';
import type { ReceiverServer } from './webhook/receiver-worker.ts';

const arg = (name: string, fallback: number): number => Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) || fallback;
const SECONDS = arg('seconds', 5);
const WEBHOOK_EVENTS = arg('events', 48_000);
/** Events delivered before the measured webhook run, not counted. */
const WEBHOOK_WARMUP_EVENTS = arg('warmup-events', 12_000);
const INSTANCES = arg('instances', 12);
/** The webhook receiver's server: `lean` (the default: the nodes get the cores a receiver on another machine would leave them) or `http` (node:http). */
const RECEIVER = receiverArg(process.argv.includes('--receiver') ? process.argv[process.argv.indexOf('--receiver') + 1] : 'lean');

function receiverArg(value: string | undefined): ReceiverServer {
  if (value === 'lean' || value === 'http') return value;
  throw new Error(`--receiver takes lean or http; got ${JSON.stringify(value)}`);
}
const ONLY = process.argv.includes('--only') ? (process.argv[process.argv.indexOf('--only') + 1] ?? '').split(',') : undefined;
const POSTGRES = process.env.BENCH_POSTGRES_URI ?? 'postgresql://postgres@127.0.0.1:5432/test';
const BATCH = 100;
/** Enough load to keep three nodes busy: 16 connections each. */
const CONNECTIONS = arg('connections', 48);
const WARMUP_MS = 1000;
/** How long the webhook run may take before the benchmark gives up (an event never delivered). */
const DELIVERY_TIMEOUT_MS = 120_000;

interface Setup {
  name: string;
  label: string;
  nodes: number;
  provider: 'sqlite' | 'postgresql';
  cluster: boolean;
}

const SETUPS: Setup[] = [
  { name: 'sqlite', label: 'SQLite, 1 node', nodes: 1, provider: 'sqlite', cluster: false },
  { name: 'postgresql', label: 'PostgreSQL, 1 node (no cluster mode)', nodes: 1, provider: 'postgresql', cluster: false },
  { name: 'cluster-1', label: 'PostgreSQL cluster, 1 node', nodes: 1, provider: 'postgresql', cluster: true },
  { name: 'cluster-2', label: 'PostgreSQL cluster, 2 nodes', nodes: 2, provider: 'postgresql', cluster: true },
  { name: 'cluster-3', label: 'PostgreSQL cluster, 3 nodes', nodes: 3, provider: 'postgresql', cluster: true },
];

// ---- the nodes --------------------------------------------------------------------------------

interface Running {
  setup: Setup;
  nodes: ChildPombo[];
  apiKey: string;
  schema: string | undefined;
  dirs: string[];
}

async function start(setup: Setup): Promise<Running> {
  const apiKey = randomBytes(12).toString('hex');
  const schema = setup.provider === 'postgresql' ? `pombo_bench_${randomBytes(5).toString('hex')}` : undefined;
  const running: Running = { setup, nodes: [], apiKey, schema, dirs: [] };
  const node = async (index: number): Promise<ChildPombo> => {
    const dir = mkdtempSync(join(tmpdir(), `pombo-bench-cluster-${index}-`));
    running.dirs.push(dir);
    const env: Record<string, string> = { DATA_DIR: dir, AUTHENTICATION_API_KEY: apiKey, LOG_LEVEL: 'warn' };
    if (schema) Object.assign(env, { DATABASE_PROVIDER: 'postgresql', DATABASE_CONNECTION_URI: `${POSTGRES}?schema=${schema}` });
    if (setup.cluster) Object.assign(env, { CLUSTER_ENABLED: 'true', CLUSTER_NODE_ID: `node-${index + 1}` });
    return spawnPombo(env, await freePort(), { nodeArgs: process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) });
  };
  try {
    // The first node creates the schema; the others start together.
    running.nodes.push(await node(0));
    running.nodes.push(...(await Promise.all(Array.from({ length: setup.nodes - 1 }, (_, i) => node(i + 1)))));
    return running;
  } catch (error) {
    await stop(running);
    throw error;
  }
}

/** Stops a node as an operator would (SIGTERM: it frees its leases, a profiler writes its profile), killing it if it hangs. */
async function shutDown({ child, kill }: ChildPombo): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => void kill(), 10_000);
  await exited;
  clearTimeout(timer);
}

async function stop({ nodes, schema, dirs }: Running): Promise<void> {
  await Promise.all(nodes.map(shutDown));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  if (!schema) return;
  const admin = new pg.Client({ connectionString: POSTGRES });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
}

/** Creates an instance on the first node and waits until every node serves it. */
async function createInstance({ nodes, apiKey }: Running, body: Record<string, unknown>): Promise<void> {
  const [first] = nodes as [ChildPombo];
  await callApi(first.url, apiKey, 'POST', '/instance/create', { integration: 'INGEST', ...body });
  for (const node of nodes) {
    const listed = async () => ((await callApi(node.url, apiKey, 'GET', `/instance/fetchInstances?instanceName=${body.instanceName}`)) as unknown[]).length === 1;
    await eventually(listed, `${body.instanceName} known on ${node.url}`);
  }
}

/** Posts one event and answers its `seq`: the instance's events stay numbered 1, 2, 3… whichever node appends. */
async function nextSeq({ nodes, apiKey }: Running, instance: string): Promise<number> {
  const answer = await callApi((nodes[0] as ChildPombo).url, apiKey, 'POST', `/events/${instance}`, { event: 'MESSAGES_UPSERT', data: { marker: true } });
  return answer.seq as number;
}

/** Waits until every webhook's lease is held by a live node and each node holds its share (rounded down). */
async function leasesSpread({ setup, nodes, apiKey }: Running, destinations: number): Promise<void> {
  if (!setup.cluster) return;
  await eventually(
    async () => {
      const view = (await callApi((nodes[0] as ChildPombo).url, apiKey, 'GET', '/cluster')) as { nodes: Array<{ id: string; alive: boolean; leases: number }> };
      const alive = view.nodes.filter((node) => node.alive);
      const held = alive.reduce((sum, node) => sum + node.leases, 0);
      return alive.length === setup.nodes && held === destinations && alive.every((node) => node.leases >= Math.floor(destinations / setup.nodes));
    },
    `${destinations} leases spread over ${setup.nodes} nodes`,
    30_000,
    100,
  );
}

// ---- load and measurement ---------------------------------------------------------------------

const LOAD = new URL('./http-load.ts', import.meta.url).pathname;

/** The load generator of bench/ingest.ts in its own process; `measuring` resolves when its measured window starts. */
function startLoad(plan: LoadPlan): { measuring: Promise<void>; result: Promise<LoadResult>; pid: number } {
  const child = fork(LOAD, [JSON.stringify(plan)], { execArgv: ['--import', import.meta.resolve('tsx')], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let stdout = '';
  child.stdout?.on('data', (chunk) => (stdout += chunk));
  const measuring = new Promise<void>((resolve) => child.on('message', (message: LoadMessage) => message.type === 'measuring' && resolve()));
  const result = new Promise<LoadResult>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(stdout) as LoadResult) : reject(new Error(`the load generator exited with ${code}`)))),
  );
  return { measuring, result, pid: child.pid ?? 0 };
}

interface Window {
  cpu: CpuUsage;
  /** The load generator's CPU seconds in its window. */
  loadCpu: number;
  postgres: PostgresStats | undefined;
}

/** Runs `plan`, measuring CPU and PostgreSQL's side from the start of its measured window until `finished` resolves. */
async function measured<T>(running: Running, plan: LoadPlan, finished: (result: Promise<LoadResult>) => Promise<T>): Promise<{ result: LoadResult; value: T; window: Window }> {
  const nodePids = () => running.nodes.map((node) => node.child.pid ?? 0);
  const meter = new CpuMeter(() => ({ nodes: nodePids(), bench: [process.pid] }));
  const sampler = running.schema ? await PostgresSampler.open(POSTGRES, running.schema, nodePids) : undefined;
  try {
    const load = startLoad(plan);
    await load.measuring;
    const from: CpuSnapshot = meter.snapshot();
    sampler?.start();
    const value = await finished(load.result);
    const to = meter.snapshot();
    const postgres = await sampler?.stop();
    const result = await load.result;
    if (result.errors) throw new Error(`${result.errors} requests failed`);
    return { result, value, window: { cpu: CpuMeter.between(from, to), loadCpu: result.cpuMicros / 1e6, postgres } };
  } finally {
    await sampler?.close();
  }
}

interface Figures {
  eventsPerSecond: number;
  events: number;
  p50Ms: number;
  p99Ms: number;
  window: Window;
}

/** Batches of events to `instances` in turn, over connections spread evenly over the nodes. */
function loadPlan(running: Running, instances: string[], run: Pick<LoadPlan, 'warmupMs' | 'measureMs' | 'events'>): LoadPlan {
  return {
    urls: running.nodes.map((node) => node.url),
    paths: instances.map((name) => `/events/${name}`),
    headers: { apikey: running.apiKey, 'content-type': 'application/json' },
    batch: BATCH,
    connections: CONNECTIONS,
    ...run,
  };
}

/** Durable ingest, the load spread over every node; fails when an acknowledged event is not in the log. */
async function ingest(running: Running): Promise<Figures & { missing: number }> {
  const names = Array.from({ length: INSTANCES }, (_, i) => `ingest-${i + 1}`);
  for (const name of names) await createInstance(running, { instanceName: name });
  const seqs = () => Promise.all(names.map((name) => nextSeq(running, name)));
  const before = await seqs();
  const plan = loadPlan(running, names, { warmupMs: WARMUP_MS, measureMs: SECONDS * 1000 });
  const { result, window } = await measured(running, plan, (done) => done);
  // Between the two marker events of each instance, its seq counts what was appended.
  const appended = (await seqs()).reduce((sum, seq, i) => sum + seq - (before[i] as number) - 1, 0);
  return {
    eventsPerSecond: result.events / (result.elapsedMs / 1000),
    events: result.events,
    p50Ms: result.latenciesMs.p50,
    p99Ms: result.latenciesMs.p99,
    missing: Math.max(0, result.acknowledged - appended),
    window,
  };
}

/** Webhooks end to end: events posted to every instance through every node, until the receiver has each once. */
async function webhooks(running: Running, receiver: Receiver): Promise<Figures & { unique: number; duplicates: number }> {
  const url = await receiver.url;
  const names = Array.from({ length: INSTANCES }, (_, i) => `hook-${i + 1}`);
  for (const name of names) await createInstance(running, { instanceName: name, webhook: { url } });
  await leasesSpread(running, INSTANCES);
  // One unmeasured pass first, as bench/webhook.ts does: every node's delivery path is compiled and its
  // connections open before the clock starts (each of three nodes would otherwise spend a third of
  // the events, not all of them, to warm up).
  const warm = receiver.expect(WEBHOOK_WARMUP_EVENTS);
  await measured(running, loadPlan(running, names, { warmupMs: 0, measureMs: DELIVERY_TIMEOUT_MS, events: WEBHOOK_WARMUP_EVENTS }), () => warm);
  const plan = loadPlan(running, names, { warmupMs: 0, measureMs: DELIVERY_TIMEOUT_MS, events: WEBHOOK_EVENTS });
  const arrived = receiver.expect(WEBHOOK_EVENTS);
  const { result, value: lastAt, window } = await measured(running, plan, () =>
    Promise.race([arrived, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the receiver did not get every event in time')), DELIVERY_TIMEOUT_MS).unref())]),
  );
  const stats = await receiver.stats();
  const sorted = Float64Array.from(stats.latenciesMs).sort();
  const quantile = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return {
    eventsPerSecond: WEBHOOK_EVENTS / ((lastAt - result.startedAt) / 1000),
    events: WEBHOOK_EVENTS,
    p50Ms: quantile(0.5),
    p99Ms: quantile(0.99),
    unique: stats.unique,
    duplicates: stats.accepted - stats.unique,
    window,
  };
}

// ---- the run ----------------------------------------------------------------------------------

interface SetupResult {
  setup: Setup;
  ingest: Awaited<ReturnType<typeof ingest>>;
  webhooks: Awaited<ReturnType<typeof webhooks>>;
}

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: POSTGRES });
  await client.connect();
  const { rows } = await client.query<{ version: string; sync: string }>("SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS sync");
  await client.end();
  return `PostgreSQL ${rows[0]?.version} (synchronous_commit=${rows[0]?.sync})`;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => n.toFixed(1);
const pct = (n: number): string => `${Math.round(n * 100)}%`;

function report(results: SetupResult[], header: string): void {
  console.log(`${header}\n`);
  console.log('| setup | ingest events/s | ingest p50 / p99 ms | missing | webhooks events/s, end to end | webhook p50 / p99 ms | duplicates |');
  console.log('|---|---|---|---|---|---|---|');
  for (const { setup, ingest: i, webhooks: w } of results) {
    console.log(`| ${setup.label} | ${fmt(i.eventsPerSecond)} | ${ms(i.p50Ms)} / ${ms(i.p99Ms)} | ${i.missing} | ${fmt(w.eventsPerSecond)} | ${ms(w.p50Ms)} / ${ms(w.p99Ms)} | ${w.duplicates} |`);
  }

  const by = new Map(results.map((result) => [result.setup.name, result]));
  const ratio = (a: string, b: string, verdict = false): string | undefined => {
    const x = by.get(a);
    const y = by.get(b);
    if (!x || !y) return undefined;
    const cell = (p: Figures, q: Figures) => {
      const value = p.eventsPerSecond / q.eventsPerSecond;
      return `${value.toFixed(2)}${verdict ? (value >= 1 ? ' (met: ≥ 1)' : ' (missed: < 1)') : ''}`;
    };
    return `| ${cell(x.ingest, y.ingest)} | ${cell(x.webhooks, y.webhooks)} |`;
  };
  console.log('\n| ratio, same run | ingest | webhooks |');
  console.log('|---|---|---|');
  const rows: Array<[string, string | undefined]> = [
    ['PostgreSQL, 1 node / SQLite', ratio('postgresql', 'sqlite')],
    ['cluster of 1 / PostgreSQL without cluster mode', ratio('cluster-1', 'postgresql')],
    ['cluster of 2 / cluster of 1', ratio('cluster-2', 'cluster-1')],
    ['cluster of 3 / cluster of 1', ratio('cluster-3', 'cluster-1', true)],
  ];
  for (const [label, cells] of rows) if (cells) console.log(`| ${label} ${cells}`);

  const windows = results.flatMap(({ setup, ingest: i, webhooks: w }) => [
    { setup, run: 'ingest', figures: i as Figures },
    { setup, run: 'webhooks', figures: w as Figures },
  ]);
  console.log(
    "\nWhere the CPU goes in each measured window: cores busy on average; µs of CPU per event (the load generator's and the receiver's work per event is the same in every setup: what theirs grows by is what the machine's contention adds); how long the nodes' main threads and PostgreSQL's processes were ready to run but waited for a CPU (run-queue seconds per second):\n",
  );
  console.log('| setup | run | machine busy | cores: Pombo nodes | PostgreSQL | load generator | receiver + bench | µs/event: nodes | PostgreSQL | load generator | receiver + bench | waiting for a CPU: nodes | PostgreSQL |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const { setup, run, figures } of windows) {
    const { cpu, loadCpu } = figures.window;
    const cores = (seconds: number) => (seconds / cpu.seconds).toFixed(2);
    const nodes = cpu.groups.get('nodes') ?? 0;
    const postgres = setup.provider === 'postgresql' ? (cpu.groups.get('postgresql') ?? 0) : undefined;
    const bench = cpu.groups.get('bench') ?? 0;
    const events = figures.eventsPerSecond * cpu.seconds;
    const perEvent = (seconds: number) => fmt((seconds * 1e6) / events);
    console.log(
      `| ${setup.label} | ${run} | ${pct(cpu.machineBusy)} | ${cores(nodes)} | ${postgres === undefined ? '–' : cores(postgres)} | ${cores(loadCpu)} | ${cores(bench)} | ${perEvent(nodes)} | ${postgres === undefined ? '–' : perEvent(postgres)} | ${perEvent(loadCpu)} | ${run === 'webhooks' ? perEvent(bench) : '–'} | ${cores(cpu.waits.get('nodes') ?? 0)} | ${postgres === undefined ? '–' : cores(cpu.waits.get('postgresql') ?? 0)} |`,
    );
  }
  console.log("\nPostgreSQL's side: the nodes' backends on average (running; waiting for the append lock; for a row lock; for WAL or I/O; idle in a transaction, waiting for the node), the append lock held (share of samples), append commits/s (each NOTIFYs every node), the nodes' connections:\n");
  console.log('| setup | run | running | append lock | row lock | WAL, I/O | idle in transaction | append lock held | append commits/s | events/commit | connections |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const { setup, run, figures } of windows) {
    const stats = figures.window.postgres;
    if (!stats) continue;
    const b = stats.backends;
    const n = (value: number) => value.toFixed(2);
    console.log(
      `| ${setup.label} | ${run} | ${n(b.running)} | ${n(b.appendLock)} | ${n(b.rowLock)} | ${n(b.io)} | ${n(b.idleInTransaction)} | ${pct(stats.appendLockHeld)} | ${fmt(stats.appendCommitsPerSecond)} | ${fmt(figures.eventsPerSecond / Math.max(1, stats.appendCommitsPerSecond))} | ${stats.connections} |`,
    );
  }
}

const receiver = new Receiver(RECEIVER);
try {
  const header = `bench/cluster: ${machine()}; ${await postgresVersion()} on the same machine; SQLite synchronous=FULL; load: batches of ${BATCH} to ${INSTANCES} instances over ${CONNECTIONS} connections spread over the nodes; ingest: ${SECONDS} s after ${WARMUP_MS / 1000} s of warm-up; webhooks: ${fmt(WEBHOOK_EVENTS)} events, one webhook per instance; load average ${(loadavg()[0] ?? 0).toFixed(1)} at start`;
  const results: SetupResult[] = [];
  for (const setup of SETUPS.filter((candidate) => !ONLY || ONLY.includes(candidate.name))) {
    const running = await start(setup);
    try {
      results.push({ setup, ingest: await ingest(running), webhooks: await webhooks(running, receiver) });
    } finally {
      await stop(running);
    }
    console.error(`bench/cluster: ${setup.name} done`);
  }
  report(results, `${header}, ${(loadavg()[0] ?? 0).toFixed(1)} at end`);
  const json = results.map(({ setup, ingest: i, webhooks: w }) => ({ setup: setup.name, ingest: i.eventsPerSecond, ingestMissing: i.missing, webhooks: w.eventsPerSecond, webhookDuplicates: w.duplicates }));
  console.log(JSON.stringify({ bench: 'cluster', machine: machine(), results: json }));
  if (results.some((result) => result.ingest.missing > 0 || result.webhooks.unique !== WEBHOOK_EVENTS)) process.exitCode = 1;
} finally {
  await receiver.close();
}
