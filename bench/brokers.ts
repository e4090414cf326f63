/**
 * Broker publishing throughput: events per second that Pombo publishes with broker confirms, end to
 * end (append to the log → the destination's cursor at the head, i.e. every event confirmed), against
 * the raw client library publishing the same payloads with confirms, in the same run.
 * Drain: in the same Pombo, the channel is then disabled for the instance (its cursor kept), EVENTS
 * more are appended, and the channel enabled again; only the delivery of that stored backlog is timed
 * (read from the log, envelopes, publish, confirms, cursor at the head), so that, like the raw
 * client, Pombo pays no append.
 *
 *   node --import tsx bench/brokers.ts            (BENCH_EVENTS=20000 BENCH_ROUNDS=3 BENCH_ONLY=rabbitmq)
 *
 * Each broker is one entry of BROKERS (bench/brokers/<name>.ts). Rounds alternate which side runs
 * first; the medians are compared. Loopback only; every run uses its own names and cleans up.
 *
 * Then, in the same Pombo, the append alone: EVENTS more to an instance that publishes nothing. Pombo
 * appends and publishes on one thread: where publishing keeps that thread busy (Kafka's drain leaves
 * it idle a few % of the time), end to end cannot beat 1 / (1/append + 1/drain), the two in turn.
 * Each round prints that figure beside the end-to-end rate, to tell the append's share from the
 * publishing's (a broker that makes Pombo wait, SQS, lets the append hide in the wait and beat it).
 *
 * BENCH_PROFILE_DIR=/tmp/prof writes a CPU profile of the main thread for each of Pombo's timed phases
 * (`<channel>-end-to-end-<round>.cpuprofile`, `<channel>-drain-<round>.cpuprofile`), the raw client
 * left out; open them in Chrome's DevTools or summarize them with `node bench/profile-summary.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../packages/server/src/config/index.ts';
import { messageHeaders } from '../packages/server/src/channels/broker/broker-channel.ts';
import { envelopeJson } from '../packages/server/src/core/envelope.ts';
import { createLogger } from '../packages/server/src/ops/logger.ts';
import { createPombo, type Pombo } from '../packages/server/src/pombo.ts';
import type { Instance } from '../packages/server/src/store/types.ts';
import type { BrokerBench, RawPayload } from './brokers/broker-bench.ts';
import { kafkaBench } from './brokers/kafka.ts';
import { natsJetStreamBench } from './brokers/nats.ts';
import { rabbitmqBench } from './brokers/rabbitmq.ts';
import { sqsBench } from './brokers/sqs.ts';
import { messageData } from './message-data.ts';
import { phaseProfiler } from './profile.ts';

const BROKERS: readonly BrokerBench[] = [rabbitmqBench, natsJetStreamBench, kafkaBench, sqsBench];

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP = 2_000;
const APPEND_CHUNK = 500;
const INSTANCE = 'bench';

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const runId = (): string => randomBytes(4).toString('hex');
const profiler = phaseProfiler(process.env.BENCH_PROFILE_DIR);

async function appendEvents(pombo: Pombo, instance: Instance, from: number, count: number): Promise<void> {
  for (let start = from; start < from + count; start += APPEND_CHUNK) {
    const size = Math.min(APPEND_CHUNK, from + count - start);
    const emits = Array.from({ length: size }, (_, index) => ({ event: 'MESSAGES_UPSERT' as const, data: messageData(start + index) }));
    await pombo.context.instances.emitMany(instance, emits, 'bench');
  }
}

/** Resolves once the destination's cursor is at the log's head: every event confirmed and recorded. */
async function caughtUp(pombo: Pombo, destination: string): Promise<void> {
  for (;;) {
    const status = pombo.context.dispatcher.status(destination);
    if (status?.lastError) throw new Error(`${destination}: ${status.lastError}`);
    if (pombo.context.dispatcher.lag(destination) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Pombo end to end: append EVENTS (after a warm-up), until the destination has them all confirmed; then the drain. Returns events/s of both and the payloads it published. */
/** CPU time of the process (every thread: Pombo runs on the main one) since `from`, in µs per event. */
const cpuPerEvent = (from: NodeJS.CpuUsage): number => {
  const { user, system } = process.cpuUsage(from);
  return (user + system) / EVENTS;
};

interface PomboRates {
  rate: number;
  drainRate: number;
  appendRate: number;
  /** CPU µs per event, end to end and drain: steadier than the rates on a shared machine. */
  cpu: { endToEnd: number; drain: number };
  payloads: RawPayload[];
}

async function measurePombo(bench: BrokerBench, run: string): Promise<PomboRates> {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-bench-'));
  const config = loadConfig({ ...bench.env(run), DATA_DIR: dir, AUTHENTICATION_API_KEY: `bench-${run}-key`, LOG_LEVEL: 'warn' }, dir);
  const pombo = await createPombo(config, createLogger('warn'));
  try {
    const module = pombo.context.channels.get(bench.channel);
    if (!module) throw new Error(`the ${bench.channel} channel is not registered`);
    const settings = (enabled: boolean) => module.parseConfig({ enabled, events: ['MESSAGES_UPSERT'] }, bench.channel);
    const channels = { [bench.channel]: settings(true) };
    const instance = await pombo.context.instances.create({ instanceName: INSTANCE, integration: 'INGEST', channels });
    const destination = `${bench.channel}:${instance.id}`;
    await appendEvents(pombo, instance, 0, WARMUP);
    await caughtUp(pombo, destination);
    const head = await pombo.context.store.headPosition();

    const endToEnd = await profiler.start(`${bench.channel}-end-to-end`);
    const startedAt = performance.now();
    const cpuAtStart = process.cpuUsage();
    await appendEvents(pombo, instance, WARMUP, EVENTS);
    await caughtUp(pombo, destination);
    const rate = EVENTS / ((performance.now() - startedAt) / 1000);
    const endToEndCpu = cpuPerEvent(cpuAtStart);
    await endToEnd.stop();

    const events = await pombo.context.store.read({ afterPos: head, instanceId: instance.id, limit: EVENTS });
    const payloads = events.map((event) => ({
      id: event.id,
      event: 'messages.upsert',
      body: Buffer.from(envelopeJson(event, pombo.context.envelope)),
      headers: messageHeaders(event),
    }));

    // Off keeps the destination's cursor, as `POST /<channel>/set` with enabled: false would.
    await pombo.context.instances.editChannels(instance.id, () => ({ [bench.channel]: settings(false) }));
    await appendEvents(pombo, instance, WARMUP + EVENTS, EVENTS);
    const drainProfile = await profiler.start(`${bench.channel}-drain`);
    const drainStartedAt = performance.now();
    const drainCpuAtStart = process.cpuUsage();
    await pombo.context.instances.editChannels(instance.id, () => ({ [bench.channel]: settings(true) }));
    await caughtUp(pombo, destination);
    const drainRate = EVENTS / ((performance.now() - drainStartedAt) / 1000);
    const drainCpu = cpuPerEvent(drainCpuAtStart);
    await drainProfile.stop();

    const silent = await pombo.context.instances.create({ instanceName: `${INSTANCE}-append`, integration: 'INGEST', channels: {} });
    await appendEvents(pombo, silent, 0, WARMUP);
    const appendStartedAt = performance.now();
    await appendEvents(pombo, silent, WARMUP, EVENTS);
    const appendRate = EVENTS / ((performance.now() - appendStartedAt) / 1000);
    return { rate, drainRate, appendRate, cpu: { endToEnd: endToEndCpu, drain: drainCpu }, payloads };
  } finally {
    await pombo.close();
    await bench.cleanup(run, INSTANCE);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The raw client's events/s, and its CPU µs per event. */
async function measureRaw(bench: BrokerBench, payloads: readonly RawPayload[], publishRaw = bench.publishRaw): Promise<{ rate: number; cpu: number }> {
  const run = runId();
  try {
    await publishRaw(run, INSTANCE, payloads.slice(0, WARMUP));
    const startedAt = performance.now();
    const cpuAtStart = process.cpuUsage();
    await publishRaw(run, INSTANCE, payloads);
    return { rate: payloads.length / ((performance.now() - startedAt) / 1000), cpu: cpuPerEvent(cpuAtStart) };
  } finally {
    await bench.cleanup(run, INSTANCE);
  }
}

async function benchBroker(bench: BrokerBench): Promise<void> {
  if (!(await bench.available())) {
    console.log(`${bench.name}: skipped (not reachable)`);
    return;
  }
  const pombo: number[] = [];
  const drain: number[] = [];
  const raw: number[] = [];
  const rawCpu: number[] = [];
  let payloads: RawPayload[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which side goes first, so a warming (or tiring) broker favours neither; the raw side
    // publishes the payloads Pombo published in the previous run.
    const rawFirst = round % 2 === 1;
    const measureRawRound = async () => {
      const measuredRaw = await measureRaw(bench, payloads);
      raw.push(measuredRaw.rate);
      rawCpu.push(measuredRaw.cpu);
    };
    if (rawFirst) await measureRawRound();
    const measured = await measurePombo(bench, runId());
    pombo.push(measured.rate);
    drain.push(measured.drainRate);
    payloads = measured.payloads;
    if (!rawFirst) await measureRawRound();
    console.log(
      `  ${bench.name} round ${round + 1}: Pombo end to end ${Math.round(measured.rate)} events/s, drain ${Math.round(measured.drainRate)} events/s, raw ${Math.round(raw.at(-1) ?? 0)} events/s; ` +
        `append alone ${Math.round(measured.appendRate)} events/s, both in turn ${Math.round(1 / (1 / measured.appendRate + 1 / measured.drainRate))} events/s; ` +
        `CPU µs/event: Pombo ${measured.cpu.endToEnd.toFixed(1)} end to end, ${measured.cpu.drain.toFixed(1)} drain, raw ${(rawCpu.at(-1) ?? 0).toFixed(1)}`,
    );
  }
  const result = {
    bench: 'brokers',
    broker: bench.name,
    events: EVENTS,
    rounds: ROUNDS,
    pomboEventsPerSecond: Math.round(median(pombo)),
    rawEventsPerSecond: Math.round(median(raw)),
    ratio: Number((median(pombo) / median(raw)).toFixed(2)),
    // Each round's two runs share the machine's load of the moment: their ratio is steadier on a busy machine.
    pairedRatio: Number(median(pombo.map((rate, index) => rate / (raw[index] ?? rate))).toFixed(2)),
    drainEventsPerSecond: Math.round(median(drain)),
    drainRatio: Number((median(drain) / median(raw)).toFixed(2)),
  };
  console.log(
    `${bench.name}: Pombo end to end ${result.pomboEventsPerSecond} events/s vs raw ${result.rawEventsPerSecond} events/s = ${Math.round(result.ratio * 100)}% of raw (median of per-round ratios: ${Math.round(result.pairedRatio * 100)}%); drain ${result.drainEventsPerSecond} events/s = ${Math.round(result.drainRatio * 100)}% of raw`,
  );
  if (bench.previousBaseline) {
    // Once, after the rounds: how the ratios read against the weaker baseline the summary once used.
    const { rate: previous } = await measureRaw(bench, payloads, bench.previousBaseline.publishRaw);
    console.log(
      `${bench.name}: against ${bench.previousBaseline.name} (the earlier baseline, ${Math.round(previous)} events/s) the ratios would read ` +
        `${(median(pombo) / previous).toFixed(2)} end to end and ${(median(drain) / previous).toFixed(2)} drain; against the fair baseline ` +
        `${result.ratio.toFixed(2)} and ${result.drainRatio.toFixed(2)}`,
    );
    Object.assign(result, { previousBaseline: bench.previousBaseline.name, previousRawEventsPerSecond: Math.round(previous) });
  }
  console.log(JSON.stringify(result));
}

const only = process.env.BENCH_ONLY?.split(',');
for (const bench of BROKERS) {
  if (!only || only.includes(bench.channel) || only.includes(bench.name)) await benchBroker(bench);
}
