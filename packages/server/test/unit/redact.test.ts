import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactUrl, redactUrlText } from '../../src/ops/redact.ts';

test('redactUrlText masks the password of a URL that does not parse, keeping the rest as written', () => {
  assert.equal(redactUrlText('amqq://guest:supersecret@host'), 'amqq://guest:***@host');
  assert.equal(redactUrlText('nats://user:NATSSECRET@host:99999'), 'nats://user:***@host:99999');
  assert.equal(redactUrlText('user:NATSSECRET@host:4222'), 'user:***@host:4222', 'no scheme (NATS_URI takes bare host:port)');
  assert.equal(redactUrlText('nats://TOKENSECRET@host:99999'), 'nats://***@host:99999', 'a user name alone is often a token');
  assert.equal(redactUrlText('amqp://u:p@ss@host:99999/vhost'), 'amqp://u:***@host:99999/vhost', 'up to the last @ before the path');
  assert.equal(redactUrlText('http://host:99999/hook?a=1&token=SECRET'), 'http://host:99999/hook?a=1&token=***');
  assert.equal(redactUrlText('http://localhost:5672'), 'http://localhost:5672');
  assert.equal(redactUrlText('amqp//nope'), 'amqp//nope');
  assert.equal(redactUrlText('host@example.com/path'), '***@example.com/path');
});

test('redactUrl masks a URL that does not parse the same way', () => {
  assert.equal(redactUrl('https://user:secret@example.com/hook'), 'https://user:***@example.com/hook');
  assert.equal(redactUrl('https://user:secret@example.com:99999/hook'), 'https://user:***@example.com:99999/hook');
});
