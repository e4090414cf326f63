import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/index.ts';
import { documentedVariables } from '../helpers/config-variables.ts';
import { SHUTDOWN_DEADLINE_MS } from '../../src/pombo.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const COMPOSE_TEXT = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

interface Service {
  build?: unknown;
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  init?: boolean;
  stop_grace_period?: string;
}
const compose = parse(COMPOSE_TEXT) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;

/** Compose's `${NAME:-default}` with nothing set in the shell, as `docker compose up` would see it on a fresh machine. */
const interpolated = (value: string): string => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
const pomboEnv = Object.fromEntries(Object.entries(services.pombo?.environment ?? {}).map(([name, value]) => [name, interpolated(String(value))]));

/** `docker compose` (the plugin), else the older `docker-compose`; neither needs a running engine to check a file. */
const composeCommand = [['docker', 'compose'], ['docker-compose']].find(([command = '', ...args]) => {
  try {
    execFileSync(command, [...args, 'version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

test('compose.yaml runs Pombo with PostgreSQL, RabbitMQ and NATS with JetStream, and Pombo waits for them', () => {
  assert.deepEqual(Object.keys(services).sort(), ['nats', 'pombo', 'postgres', 'rabbitmq']);
  assert.ok(services.pombo?.build, 'Pombo is built from the Dockerfile');
  assert.ok(services.nats?.command?.includes('--jetstream'), 'NATS runs with JetStream');
  assert.equal(services.pombo?.depends_on?.postgres?.condition, 'service_healthy');
  assert.equal(services.pombo?.depends_on?.rabbitmq?.condition, 'service_healthy');
  for (const mount of Object.values(services).flatMap((service) => service.volumes ?? [])) {
    assert.ok(mount.split(':')[0]! in compose.volumes, `${mount}: a named volume`);
  }
});

test("compose.yaml lets Pombo's shutdown finish: signals reach Node.js through an init, and SIGKILL comes after the shutdown deadline", () => {
  assert.equal(services.pombo?.init, true);
  const grace = /^(\d+)s$/.exec(services.pombo?.stop_grace_period ?? '');
  assert.ok(grace, `stop_grace_period in seconds: ${services.pombo?.stop_grace_period}`);
  assert.ok(Number(grace[1]) * 1000 > SHUTDOWN_DEADLINE_MS, `${grace[1]} s is longer than the ${SHUTDOWN_DEADLINE_MS} ms deadline`);
});

test('compose.yaml sets only variables Pombo reads, and they point at its own services with their credentials', () => {
  const known = documentedVariables();
  assert.deepEqual(Object.keys(pomboEnv).filter((name) => !known.has(name)), [], 'unknown variables (a typo is silently ignored)');
  const pg = services.postgres?.environment ?? {};
  const database = new URL(pomboEnv.DATABASE_CONNECTION_URI ?? '');
  assert.equal(database.host, 'postgres:5432');
  assert.deepEqual([database.username, database.password, database.pathname], [pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, `/${pg.POSTGRES_DB}`]);
  const rabbit = services.rabbitmq?.environment ?? {};
  const amqp = new URL(pomboEnv.RABBITMQ_URI ?? '');
  assert.deepEqual([amqp.hostname, amqp.username, amqp.password], ['rabbitmq', rabbit.RABBITMQ_DEFAULT_USER, rabbit.RABBITMQ_DEFAULT_PASS]);
  assert.equal(new URL(pomboEnv.NATS_URI ?? '').host, 'nats:4222');
  assert.equal(pomboEnv.NATS_JETSTREAM_ENABLED, 'true');
});

test("Pombo's configuration parser accepts compose.yaml's environment, and its data folder is the volume", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-compose-'));
  try {
    const config = loadConfig({ ...pomboEnv, DATA_DIR: join(dir, 'data') }, dir);
    assert.equal(config.database.provider, 'postgresql');
    assert.equal(config.auth.apiKeyGenerated, true, 'no key set: one is generated and printed');
    assert.ok(config.brokers.rabbitmq.settings, 'RabbitMQ is enabled and its settings parse');
    assert.ok(config.brokers.nats.settings, 'NATS is enabled and its settings parse');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(services.pombo?.volumes?.includes(`pombo-data:${pomboEnv.DATA_DIR}`), 'DATA_DIR is on the volume');
});

test('the Dockerfile builds, then runs the compiled server as a non-root user with its data on a volume', () => {
  const stages = DOCKERFILE.split(/^FROM /m).slice(1);
  assert.ok(stages.length >= 2, 'multi-stage');
  const runtime = stages.at(-1) ?? '';
  assert.match(stages[0] ?? '', /npm run build:server/);
  assert.match(runtime, /^USER node$/m);
  assert.match(runtime, /^VOLUME \/data$/m);
  assert.match(runtime, /DATA_DIR=\/data/);
  assert.match(runtime, /^CMD \["node", "packages\/server\/dist\/main\.js"\]$/m, 'what npm start runs');
  const start = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start;
  assert.equal(start, 'node packages/server/dist/main.js');
});

test('docker compose config accepts compose.yaml', { skip: composeCommand ? false : 'neither docker compose nor docker-compose is installed here: compose.yaml is checked structurally above' }, () => {
  const [command = '', ...args] = composeCommand ?? [];
  const output = execFileSync(command, [...args, '-f', join(ROOT, 'compose.yaml'), 'config', '--quiet'], { encoding: 'utf8', env: { ...process.env, AUTHENTICATION_API_KEY: '' } });
  assert.equal(output.trim(), '');
});
