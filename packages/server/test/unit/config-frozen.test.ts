import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';

test('the configuration is parsed once and frozen all the way down, broker settings included', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-frozen-'));
  try {
    const config = loadConfig({ AUTHENTICATION_API_KEY: 'k', RABBITMQ_ENABLED: 'true', RABBITMQ_URI: 'amqp://localhost', NATS_ENABLED: 'true', NATS_URI: 'nats://a:4222,nats://b:4222' }, dir);
    assert.ok('brokers' in config && !('env' in config), 'no reader of the raw environment is handed around');
    assert.throws(() => ((config.webhook as { maxInFlight: number }).maxInFlight = 1), TypeError);
    assert.throws(() => ((config.brokers.rabbitmq as { enabled: boolean }).enabled = false), TypeError);
    assert.throws(() => ((config.brokers.rabbitmq.settings as { exchange: string }).exchange = 'other'), TypeError);
    assert.throws(() => (config.brokers.nats.settings?.servers as string[]).push('c:4222'), TypeError);
    assert.equal(config.brokers.kafka.settings, undefined, 'a disabled broker has no settings: its variables are not required');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
