import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireService, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { drained } from '../brokers/broker-test-helpers.ts';
import { deleteStreams, natsRequired, NATS_URI } from '../brokers/nats-helpers.ts';
import { deleteGroup, KAFKA_BROKERS, kafkaAvailable } from '../brokers/kafka-topic-reader.ts';
import { rabbitmqRequired, RABBITMQ_URI } from '../brokers/rabbitmq-helpers.ts';
import { deleteQueue, SQS_ENDPOINT, sqsAvailable, sqsEnv } from '../brokers/sqs-queue-reader.ts';

/**
 * Every curl, TypeScript and JavaScript example of README.md and docs/*.md runs against a live
 * Pombo, in the order of its page (a page's examples share one server, as a reader following the
 * page would), so that a wrong example fails the suite. What the runner substitutes: the server's
 * address for `localhost:8080` and `wss://api.example.com`, the global key for `$KEY`,
 * `GLOBAL-API-KEY` and `POMBO_API_KEY`, and the token of `minha-instancia` (a sandbox instance each
 * page starts with) for `INSTANCE-TOKEN`; `@pombo/sdk` is the SDK's sources. An example that exits
 * passes when it exits with 0; one still running after a moment is a listener: events are sent to
 * `minha-instancia` until it prints one of them (their message text, `Olá`, or their key's id). Just
 * above its fence a page may say what an example must print instead: `<!-- example: prints (text) -->`
 * (an answer that must be a success, a refusal a listener must report); an example that cannot run
 * here says why: `<!-- example: skip (reason) -->`; the test reports it as skipped with that reason.
 * A broker consumer says which broker it reads, `<!-- example: needs rabbitmq -->` (see BROKERS): it
 * runs against a Pombo of its own, started with that broker on, whose `minha-instancia` publishes
 * there.
 */

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const SDK = fileURLToPath(new URL('../../../sdk/src/index.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
/** Examples are written inside the repository so that they resolve its packages (socket.io-client, …). */
const SCRATCH = join(ROOT, 'node_modules', '.cache', 'pombo-doc-examples');
const SKIP = /<!--\s*example:\s*skip\s*\((.+)\)\s*-->\s*$/;
const PRINTS = /<!--\s*example:\s*prints\s*\((.+)\)\s*-->\s*$/;
const NEEDS = /<!--\s*example:\s*needs\s+(\w+)\s*-->\s*$/;
/** What a listener prints of an event the runner sent (see `run`). */
const SENT_EVENT = /Olá|doc-\d+/;

interface Example {
  line: number;
  kind: 'shell' | 'script';
  code: string;
  skip: string | undefined;
  /** Text the example's output must contain (`<!-- example: prints (…) -->`). */
  prints: string | undefined;
  /** The broker a consumer reads (`<!-- example: needs rabbitmq -->`). */
  needs: string | undefined;
}

function examplesOf(text: string): Example[] {
  const examples: Example[] = [];
  for (const match of text.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)) {
    const lang = match[1] ?? '';
    const code = match[2] ?? '';
    const shell = ['sh', 'bash', 'shell'].includes(lang) && /\bcurl\b/.test(code);
    if (!shell && !['ts', 'typescript', 'js', 'javascript'].includes(lang)) continue;
    const before = text.slice(0, match.index).trimEnd();
    const note = before.slice(before.lastIndexOf('\n') + 1);
    const skip = SKIP.exec(note)?.[1];
    const prints = PRINTS.exec(note)?.[1];
    const needs = NEEDS.exec(note)?.[1];
    examples.push({ line: text.slice(0, match.index).split('\n').length, kind: shell ? 'shell' : 'script', code, skip, prints, needs });
  }
  return examples;
}

const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((file) => file.endsWith('.md')).sort().map((file) => `docs/${file}`)];

interface Page {
  pombo: Harness;
  token: string;
  cwd: string;
  /** Variables the examples read (a broker consumer's connection). */
  env?: Record<string, string>;
}

/** What a broker consumer needs: the broker, a Pombo publishing there, and where the example finds them. */
interface Broker {
  /** Skips the example when the broker does not answer here (fails under CI=true). */
  required(): Promise<{ skip?: string }>;
  /** Pombo's variables. */
  env: Record<string, string>;
  /** Variables the example reads instead of its defaults. */
  exampleEnv?: Record<string, string>;
  /** Removes what the example leaves on the broker (its stream, its queue). */
  cleanup?(): Promise<void>;
  /** Starts a server of the run's own, for a broker the machine does not run as the example needs it. */
  open?(): Promise<Opened>;
}

interface Opened {
  /** minha-instancia's configuration for the broker, besides `enabled` and `events`. */
  instance: Record<string, unknown>;
  exampleEnv: Record<string, string>;
  close(): Promise<void>;
}

/** The queue and topic the SQS and Kafka consumers of docs/brokers.md read. */
const SQS_QUEUE = 'evolution-minha-instancia-messages-upsert';

const BROKERS: Record<string, Broker> = {
  // No durable queues: the example binds its own exclusive one, and nothing is left on the broker.
  rabbitmq: { required: rabbitmqRequired, env: { RABBITMQ_ENABLED: 'true', RABBITMQ_URI, RABBITMQ_DECLARE_QUEUES: 'false' }, exampleEnv: { RABBITMQ_URI } },
  // The example's stream (the default one) and durable consumer go with it.
  nats: { required: natsRequired, env: { NATS_ENABLED: 'true', NATS_URI, NATS_JETSTREAM_ENABLED: 'true' }, exampleEnv: { NATS_URI }, cleanup: () => deleteStreams('POMBO_EVENTS') },
  // The AWS SDK reads its endpoint and credentials from the environment.
  sqs: {
    required: async () => requireService(await sqsAvailable(), 'An SQS-compatible server on 127.0.0.1:9324', 'run scripts/services/sqs.sh'),
    env: sqsEnv(),
    exampleEnv: { AWS_ENDPOINT_URL: SQS_ENDPOINT, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
    cleanup: () => deleteQueue(SQS_QUEUE).catch(() => undefined),
  },
  // The Pusher-protocol test server on 6001 may be an older one without WebSocket clients: a fresh one.
  pusher: { required: async () => ({}), env: { PUSHER_ENABLED: 'true', PUSHER_RETRY_MAX_DELAY_MS: '300', PUSHER_ALLOW_PRIVATE_NETWORKS: 'true' }, open: startPusherServer },
  kafka: {
    required: async () => requireService(await kafkaAvailable(), 'Kafka on 127.0.0.1:9092', 'run scripts/services/kafka.sh'),
    env: { KAFKA_ENABLED: 'true', KAFKA_BROKERS, KAFKA_AUTO_CREATE_TOPICS: 'true', KAFKA_RETRY_MAX_DELAY_MS: '300' },
    exampleEnv: { KAFKA_BROKERS },
    // The example's consumer group, whose member (the stopped example) would hold its partition until its session expires.
    cleanup: () => deleteGroup('my-app'),
  },
};

/** Starts scripts/services/pusher-server.mjs on a free port, with an app of its own. */
async function startPusherServer(): Promise<Opened> {
  const app = { appId: 'doc-examples', key: 'doc-examples-key', secret: randomBytes(16).toString('hex') };
  const server = spawn(process.execPath, [join(ROOT, 'scripts', 'services', 'pusher-server.mjs')], {
    env: { ...process.env, PUSHER_PORT: '0', PUSHER_TEST_APPS: `${app.appId}:${app.key}:${app.secret}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => server.once('exit', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (listening) resolve(Number(listening[1]));
    });
    server.once('exit', (code) => reject(new Error(`the Pusher test server exited with ${code}: ${out}`)));
  });
  return {
    instance: { ...app, host: '127.0.0.1', port, useTLS: false },
    exampleEnv: { PUSHER_KEY: app.key, PUSHER_HOST: '127.0.0.1', PUSHER_PORT: String(port) },
    async close() {
      server.kill();
      await exited;
    },
  };
}

/**
 * Runs a consumer the way its reader would: a Pombo with the broker on, `minha-instancia` publishing
 * its messages there, and one message already published (so that the stream, queue or topic the
 * consumer opens exists); then `run` sends more until the consumer prints one.
 */
async function runConsumer(example: Example, broker: Broker, page: Page, name: string): Promise<Run> {
  await broker.cleanup?.();
  const since = Date.now();
  const opened = await broker.open?.();
  const pombo = await startPombo(broker.env);
  try {
    const channel = example.needs as string;
    const { token } = await pombo.sandbox('minha-instancia', { [channel]: { ...opened?.instance, enabled: true, events: ['MESSAGES_UPSERT'] } });
    await pombo.api('POST', '/events/minha-instancia', { events: [{ event: 'MESSAGES_UPSERT', data: { key: { id: `doc-${Date.now()}` }, message: { conversation: 'Olá' } } }] });
    await drained(pombo, channel, 'minha-instancia');
    return await runExample(example, { ...page, pombo, token, env: { ...broker.exampleEnv, ...opened?.exampleEnv } }, name, heardSince(since));
  } finally {
    await pombo.close();
    await opened?.close();
    await broker.cleanup?.();
  }
}

function substitute(code: string, page: Page): string {
  const host = page.pombo.url.replace(/^https?:\/\//, '');
  return code
    .replaceAll('wss://api.example.com', `ws://${host}`)
    .replaceAll('http://localhost:8080', `http://${host}`)
    .replaceAll('localhost:8080', host)
    .replaceAll('GLOBAL-API-KEY', page.pombo.apiKey)
    .replaceAll('INSTANCE-TOKEN', page.token)
    .replaceAll("'@pombo/sdk'", `'${SDK}'`);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command; resolves when it exits, or, for a listener, once it has printed what `heard`
 * looks for (then it is stopped and counts as a success) or after 15 s (stopped: a failure).
 */
function run(command: string, args: string[], page: Page, heard: (stdout: string) => boolean, file?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: page.cwd,
      env: { ...process.env, ...page.env, KEY: page.pombo.apiKey, POMBO_API_KEY: page.pombo.apiKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const started = Date.now();
    let listened = false;
    // A listener: once it has had a moment to connect, events go to minha-instancia until it prints one.
    const tick = setInterval(() => {
      if (Date.now() - started < 1500) return;
      listened = heard(stdout);
      if (listened || Date.now() - started > 15_000) {
        child.kill();
        return;
      }
      void page.pombo.api('POST', '/events/minha-instancia', { events: [{ event: 'MESSAGES_UPSERT', data: { key: { id: `doc-${Date.now()}` }, message: { conversation: 'Olá' } } }] });
    }, 500);
    child.on('exit', (code, signal) => {
      clearInterval(tick);
      if (file) rmSync(file, { force: true });
      resolve({ code: signal && listened ? 0 : code, stdout, stderr });
    });
  });
}

/** Whether a consumer printed an event sent since `since` (a stream or topic may still hold older ones). */
const heardSince = (since: number) => (stdout: string): boolean => [...stdout.matchAll(/doc-(\d+)/g)].some((match) => Number(match[1]) >= since);

function runExample(example: Example, page: Page, name: string, heardWhat?: (stdout: string) => boolean): Promise<Run> {
  const code = substitute(example.code, page);
  const heard = heardWhat ?? ((stdout: string): boolean => (example.prints === undefined ? SENT_EVENT.test(stdout) : stdout.includes(example.prints)));
  if (example.kind === 'shell') {
    // curl fails on an error answer, as a reader would notice one.
    const prelude = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n';
    return run('bash', ['-c', prelude + code], page, heard);
  }
  mkdirSync(SCRATCH, { recursive: true });
  // A CommonJS example (`require`) is plain JavaScript, run by Node itself.
  if (/\brequire\(/.test(code)) {
    const file = join(SCRATCH, `${name}.cjs`);
    writeFileSync(file, code);
    return run(process.execPath, [file], page, heard, file);
  }
  const file = join(SCRATCH, `${name}.mts`);
  writeFileSync(file, code);
  return run(process.execPath, ['--import', TSX, file], page, heard, file);
}

for (const path of PAGES) {
  const examples = examplesOf(readFileSync(join(ROOT, path), 'utf8'));
  if (!examples.length) continue;
  test(`the examples of ${path} run`, { timeout: 180_000 }, async (t) => {
    const pombo = await startPombo();
    const cwd = mkdtempSync(join(tmpdir(), 'pombo-doc-'));
    try {
      // README's `KEY=$(cat data/api-key)`: the key where a first start leaves it.
      mkdirSync(join(cwd, 'data'));
      writeFileSync(join(cwd, 'data', 'api-key'), `${pombo.apiKey}\n`);
      const { token } = await pombo.sandbox('minha-instancia');
      const page: Page = { pombo, token, cwd };
      for (const example of examples) {
        const name = `${path.replace(/\W/g, '-')}-${example.line}`;
        const broker = example.needs === undefined ? undefined : BROKERS[example.needs];
        if (example.needs !== undefined && !broker) throw new Error(`${path}:${example.line} needs "${example.needs}", which is none of ${Object.keys(BROKERS).join(', ')}`);
        const skip = example.skip ?? (await broker?.required())?.skip;
        await t.test(`${path}:${example.line}`, { skip }, async (step) => {
          const result = await (broker ? runConsumer(example, broker, page, name) : runExample(example, page, name));
          step.diagnostic(`printed: ${result.stdout.trim().split('\n')[0]?.slice(0, 160) ?? ''}`);
          assert.equal(result.code, 0, `${path}:${example.line} failed:\n${result.stderr}\n${result.stdout}`);
          if (example.prints !== undefined) assert.ok(result.stdout.includes(example.prints), `${path}:${example.line} did not print "${example.prints}":\n${result.stdout}`);
        });
      }
    } finally {
      await pombo.close();
      rmSync(cwd, { recursive: true, force: true });
    }
  });
}
