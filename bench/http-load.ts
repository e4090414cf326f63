/**
 * A load generator in its own process, so that it never shares the server's event loop and the
 * server's process CPU time is the server's alone: keep-alive connections (an undici Pool per
 * server), each posting one request after another for a fixed time or a fixed number of events.
 * Started with an IPC channel (fork), it says when its measured window starts.
 *
 *   node --import tsx bench/http-load.ts '<LoadPlan as JSON>'   → prints a LoadResult as JSON
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface LoadPlan {
  /** The servers: connection i posts to `urls[i % urls.length]`. */
  urls: string[];
  /** The paths each connection posts to in turn (one instance or several). */
  paths: string[];
  headers: Record<string, string>;
  /** Events per request: 1 posts `{event, data}`, more post an array. */
  batch: number;
  connections: number;
  warmupMs: number;
  measureMs: number;
  /** Stops once this many events were posted (`measureMs` then bounds the run). */
  events?: number;
}

/** What a forked load generator tells its parent besides its result. */
export type LoadMessage = { type: 'measuring' };

export interface LoadResult {
  /** Requests and events acknowledged (201) in the measured window. */
  requests: number;
  events: number;
  /** Events acknowledged in total, warm-up included. */
  acknowledged: number;
  errors: number;
  /** When the measured window began (ms since epoch, sub-ms) and how long it lasted. */
  startedAt: number;
  elapsedMs: number;
  /** This process's CPU time (user + system) in the measured window, in µs. */
  cpuMicros: number;
  latenciesMs: { p50: number; p99: number; max: number };
}

const plan = JSON.parse(process.argv[2] ?? '{}') as LoadPlan;
let counter = 0;

/** A message event shaped like Evolution API's MESSAGES_UPSERT (about 270 bytes); `t`, when it was posted, lets a webhook receiver measure latency. */
function event(): unknown {
  const n = counter++;
  return {
    event: 'MESSAGES_UPSERT',
    data: {
      t: performance.timeOrigin + performance.now(),
      key: { remoteJid: `55119${String(n % 100_000).padStart(8, '0')}@s.whatsapp.net`, fromMe: false, id: `3EB0BENCH${n}` },
      pushName: 'Bench',
      message: { conversation: `message number ${n}` },
      messageType: 'conversation',
      messageTimestamp: 1_700_000_000 + n,
    },
  };
}

const body = (batch: number): string => JSON.stringify(plan.batch === 1 ? event() : Array.from({ length: batch }, event));

const quantile = (sorted: Float64Array, q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

async function run(): Promise<LoadResult> {
  const pools = plan.urls.map((url) => new Pool(url, { connections: Math.ceil(plan.connections / plan.urls.length), pipelining: 1 }));
  const start = performance.now();
  const measureFrom = start + plan.warmupMs;
  const end = measureFrom + plan.measureMs;
  let cpuStart = process.cpuUsage();
  const measuring = setTimeout(() => {
    cpuStart = process.cpuUsage();
    process.send?.({ type: 'measuring' } satisfies LoadMessage);
  }, plan.warmupMs);
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  let acknowledged = 0;
  let events = 0;
  let posted = 0;
  let nextPath = 0;
  const user = async (connection: number) => {
    const pool = pools[connection % pools.length] as Pool;
    for (let now = performance.now(); now < end && posted < (plan.events ?? Infinity); now = performance.now()) {
      const path = plan.paths[nextPath++ % plan.paths.length] as string;
      const batch = Math.min(plan.batch, (plan.events ?? Infinity) - posted);
      posted += batch;
      const response = await pool.request({ path, method: 'POST', headers: plan.headers, body: body(batch) });
      await response.body.dump();
      const done = performance.now();
      if (response.statusCode === 201) acknowledged += batch;
      if (now < measureFrom) continue;
      if (response.statusCode !== 201) errors++;
      else events += batch;
      requests++;
      latencies.push(done - now);
    }
  };
  await Promise.all(Array.from({ length: plan.connections }, (_, connection) => user(connection)));
  clearTimeout(measuring);
  const elapsedMs = performance.now() - measureFrom;
  const cpu = process.cpuUsage(cpuStart);
  await Promise.all(pools.map((pool) => pool.close()));
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests,
    events,
    acknowledged,
    errors,
    startedAt: performance.timeOrigin + measureFrom,
    elapsedMs,
    cpuMicros: cpu.user + cpu.system,
    latenciesMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? 0 },
  };
}

process.stdout.write(JSON.stringify(await run()));
// The IPC channel (when forked) would keep the process alive.
process.disconnect?.();
