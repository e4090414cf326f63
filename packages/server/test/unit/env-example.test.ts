import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'dotenv';
import { loadConfig } from '../../src/config/index.ts';
import { documentedVariables, variablesRead } from '../helpers/config-variables.ts';

const EXAMPLE = readFileSync(new URL('../../../../.env.example', import.meta.url), 'utf8');
/** What a user gets by copying the file to .env: the uncommented lines. */
const ACTIVE = parse(EXAMPLE);
/** Every line naming a variable, commented out or not: `# NAME=value` or `NAME=value`. */
const LISTED = new Map([...EXAMPLE.matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=(\S*)/gm)].map(([, name, value]) => [name ?? '', value ?? '']));

test('.env.example lists every variable docs/configuration.md documents and the source reads', () => {
  const perEvent = (name: string) => name.replace('<EVENT>', 'MESSAGES_UPSERT');
  const missing = [...documentedVariables().keys(), ...variablesRead().keys()].map(perEvent).filter((name) => !LISTED.has(name));
  assert.deepEqual([...new Set(missing)], [], 'add these to .env.example');
});

test('each value in .env.example is the default docs/configuration.md gives', () => {
  const documented = documentedVariables();
  const wrong = [...LISTED]
    .filter(([name, value]) => value !== '' && !name.includes('_EVENTS_') && !name.startsWith('SQS_GLOBAL_MESSAGES'))
    .filter(([name, value]) => !(documented.get(name) ?? '').startsWith(`\`${value}\``))
    .map(([name, value]) => `${name}=${value} (docs: ${documented.get(name) ?? 'not documented'})`);
  assert.deepEqual(wrong, []);
});

test('the uncommented lines of .env.example configure Pombo exactly as no configuration does', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-env-example-'));
  try {
    const key = { AUTHENTICATION_API_KEY: 'k' };
    assert.deepEqual(loadConfig({ ...ACTIVE, ...key }, dir), loadConfig(key, dir));
    // With every broker enabled, their settings too: the required connection settings are not defaults.
    const enabled = {
      ...key,
      ...Object.fromEntries(['RABBITMQ', 'NATS', 'KAFKA', 'SQS', 'PUSHER'].map((broker) => [`${broker}_ENABLED`, 'true'])),
      RABBITMQ_URI: 'amqp://localhost',
      NATS_URI: 'nats://localhost:4222',
      SQS_REGION: 'us-east-1',
    };
    const brokers = loadConfig({ ...ACTIVE, ...enabled }, dir).brokers;
    assert.ok(brokers.rabbitmq.settings && brokers.kafka.settings && brokers.sqs.settings && brokers.nats.settings && brokers.pusher.settings);
    assert.deepEqual(brokers, loadConfig(enabled, dir).brokers);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
