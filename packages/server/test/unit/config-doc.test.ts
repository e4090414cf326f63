import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvReader } from '../../src/config/env-reader.ts';
import { readConfig } from '../../src/config/index.ts';
import { documentedVariables } from '../helpers/config-variables.ts';

/**
 * Every variable Pombo can read, as the EnvReader records them (templated names included: a broker's
 * `<PREFIX>_ENABLED` or `RABBITMQ_EVENTS_<EVENT>` are built from its prefix, so no text search finds
 * them): read with every channel, global mode and optional part on, so that each reader runs.
 */
function everyRead(): Map<string, unknown> {
  const on: Record<string, string> = {
    AUTHENTICATION_API_KEY: 'k',
    WEBHOOK_GLOBAL_ENABLED: 'true',
    WEBHOOK_GLOBAL_URL: 'https://example.com/hook',
    WEBHOOK_EVENTS_ERRORS: 'true',
    WEBHOOK_EVENTS_ERRORS_WEBHOOK: 'https://example.com/errors',
    RABBITMQ_URI: 'amqp://localhost',
    NATS_URI: 'nats://localhost:4222',
    SQS_REGION: 'us-east-1',
    KAFKA_SASL_ENABLED: 'true',
    KAFKA_SASL_USERNAME: 'user',
    KAFKA_SASL_PASSWORD: 'password',
    KAFKA_SSL_ENABLED: 'true',
    PUSHER_GLOBAL_APP_ID: '1',
    PUSHER_GLOBAL_KEY: 'key',
    PUSHER_GLOBAL_SECRET: 'secret',
    PUSHER_GLOBAL_CLUSTER: 'us2',
  };
  for (const broker of ['RABBITMQ', 'NATS', 'KAFKA', 'SQS', 'PUSHER']) Object.assign(on, { [`${broker}_ENABLED`]: 'true', [`${broker}_GLOBAL_ENABLED`]: 'true' });
  const dir = mkdtempSync(join(tmpdir(), 'pombo-config-doc-'));
  try {
    const env = new EnvReader(on);
    readConfig(env, dir);
    assert.deepEqual(env.problems, [], 'the configuration that turns everything on is valid');
    return env.reads;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Documented, never read: accepted so that an Evolution API configuration starts unchanged. */
const ACCEPTED_UNUSED = ['KAFKA_CONSUMER_GROUP_ID'];

/** Defaults worked out from other variables, as the documentation writes them. */
const DERIVED_DEFAULTS: Record<string, string> = { SERVER_URL: '`http://localhost:<SERVER_PORT>`', CLUSTER_NODE_ID: '`<hostname>-<pid>`' };

test('every variable read, templated ones included, is documented, and every documented one is read', () => {
  const reads = everyRead();
  for (const name of ['RABBITMQ_EVENTS_<EVENT>', 'WEBHOOK_EVENTS_<EVENT>', 'SQS_GLOBAL_<EVENT>', 'KAFKA_ENABLED', 'PUSHER_RETRY_MAX_DELAY_MS', 'REALTIME_PING_INTERVAL_MS']) {
    assert.ok(reads.has(name), `${name} is read in config/`);
  }
  const documented = documentedVariables();
  assert.deepEqual([...reads.keys()].filter((name) => !documented.has(name)), [], 'add these to docs/configuration.md with their default');
  assert.deepEqual([...documented.keys()].filter((name) => !reads.has(name) && !ACCEPTED_UNUSED.includes(name)), [], 'documented but never read');
});

test("every documented default is the one the code falls back to", () => {
  const documented = documentedVariables();
  const wrong: string[] = [];
  for (const [name, fallback] of everyRead()) {
    const cell = documented.get(name) ?? '';
    const derived = DERIVED_DEFAULTS[name];
    if (derived !== undefined) {
      if (!cell.startsWith(derived)) wrong.push(`${name}: documented ${cell}, expected ${derived}`);
      continue;
    }
    if (fallback === undefined) continue;
    const text = Array.isArray(fallback) ? fallback.join(',') : String(fallback);
    // An empty default is written in words: "empty (any address)", "— (required)", "none".
    const ok = text === '' ? /^(empty|none|—)/.test(cell) : cell.startsWith(`\`${text}\``);
    if (!ok) wrong.push(`${name}: documented ${cell || '(nothing)'}, the code falls back to ${text === '' ? 'nothing' : `\`${text}\``}`);
  }
  assert.deepEqual(wrong, []);
});
