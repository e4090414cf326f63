/**
 * A load generator in its own process, so that it never shares the server's event loop and the
 * server's process CPU time is the server's alone: keep-alive connections (an undici Pool), each
 * posting one request after another for a fixed time.
 *
 *   node --import tsx bench/http-load.ts '<LoadPlan as JSON>'   → prints a LoadResult as JSON
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface LoadPlan {
  url: string;
  path: string;
  headers: Record<string, string>;
  /** Events per request: 1 posts `{event, data}`, more post an array. */
  batch: number;
  connections: number;
  warmupMs: number;
  measureMs: number;
}

export interface LoadResult {
  /** Requests and events acknowledged (201) in the measured window. */
  requests: number;
  events: number;
  /** Events acknowledged in total, warm-up included. */
  acknowledged: number;
  errors: number;
  elapsedMs: number;
  latenciesMs: { p50: number; p99: number; max: number };
}

const plan = JSON.parse(process.argv[2] ?? '{}') as LoadPlan;
let counter = 0;

/** A message event shaped like Evolution API's MESSAGES_UPSERT (about 250 bytes). */
function event(): unknown {
  const n = counter++;
  return {
    event: 'MESSAGES_UPSERT',
    data: {
      key: { remoteJid: `55119${String(n % 100_000).padStart(8, '0')}@s.whatsapp.net`, fromMe: false, id: `3EB0BENCH${n}` },
      pushName: 'Bench',
      message: { conversation: `message number ${n}` },
      messageType: 'conversation',
      messageTimestamp: 1_700_000_000 + n,
    },
  };
}

const body = (): string => JSON.stringify(plan.batch === 1 ? event() : Array.from({ length: plan.batch }, event));

const quantile = (sorted: Float64Array, q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

async function run(): Promise<LoadResult> {
  const pool = new Pool(plan.url, { connections: plan.connections, pipelining: 1 });
  const start = performance.now();
  const measureFrom = start + plan.warmupMs;
  const end = measureFrom + plan.measureMs;
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  let acknowledged = 0;
  const user = async () => {
    for (let now = performance.now(); now < end; now = performance.now()) {
      const response = await pool.request({ path: plan.path, method: 'POST', headers: plan.headers, body: body() });
      await response.body.dump();
      const done = performance.now();
      if (response.statusCode === 201) acknowledged += plan.batch;
      if (now < measureFrom) continue;
      if (response.statusCode !== 201) errors++;
      requests++;
      latencies.push(done - now);
    }
  };
  await Promise.all(Array.from({ length: plan.connections }, user));
  const elapsedMs = performance.now() - measureFrom;
  await pool.close();
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests,
    events: (requests - errors) * plan.batch,
    acknowledged,
    errors,
    elapsedMs,
    latenciesMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? 0 },
  };
}

process.stdout.write(JSON.stringify(await run()));
