import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reasonOf } from '../../src/core/error-reason.ts';

test('an error without causes gives its message alone, anything else its string (what the NATS, JetStream and driver-thread callers got before)', () => {
  assert.equal(reasonOf(new Error('closed connection')), 'closed connection');
  assert.equal(reasonOf(new SyntaxError('Unexpected token')), 'Unexpected token');
  assert.equal(reasonOf('down'), 'down');
  assert.equal(reasonOf(undefined), 'undefined');
  assert.equal(reasonOf(new Error('')), 'Error', 'an error without a message is named');
});

test("a failure's causes follow its message, each once, at most four", () => {
  const inner = new Error("no responders: '$JS.API.STREAM.INFO.x'");
  assert.equal(reasonOf(new Error(inner.message, { cause: inner })), inner.message, 'a wrapper repeating its cause adds nothing');
  assert.equal(reasonOf(new Error('jetstream is not enabled', { cause: inner })), `jetstream is not enabled: ${inner.message}`);
  const aggregate = new AggregateError([new Error('ECONNREFUSED 127.0.0.1:9092'), new Error('ECONNREFUSED [::1]:9092')], 'Cannot connect to any broker.');
  assert.equal(reasonOf(aggregate), 'Cannot connect to any broker.: ECONNREFUSED 127.0.0.1:9092: ECONNREFUSED [::1]:9092');
  const deep = new Error('1', { cause: new Error('2', { cause: new Error('3', { cause: new Error('4', { cause: new Error('5') }) }) }) });
  assert.equal(reasonOf(deep), '1: 2: 3: 4');
});
