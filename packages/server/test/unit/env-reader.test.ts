import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_KEYS } from '../../src/core/event-names.ts';
import { EnvReader } from '../../src/config/env-reader.ts';

test('strings: trimmed, quotes stripped, empty counts as unset', () => {
  const env = new EnvReader({ A: '  value ', B: "'quoted'", C: '"double"', D: '', E: '   ' });
  assert.equal(env.str('A'), 'value');
  assert.equal(env.str('B'), 'quoted');
  assert.equal(env.str('C'), 'double');
  assert.equal(env.str('D', 'fallback'), 'fallback');
  assert.equal(env.str('E'), undefined);
  assert.equal(env.has('A'), true);
  assert.equal(env.has('D'), false);
  assert.deepEqual(env.names('B'), ['B']);
  assert.deepEqual(env.problems, []);
});

test('integers and numbers: parsed within bounds, otherwise a problem naming the variable', () => {
  const env = new EnvReader({ PORT: '8081', BAD: 'abc', FRACTION: '1.5', LOW: '-1', HIGH: '70000', RATIO: '0.25', NAN: 'x1' });
  assert.equal(env.int('PORT', 1), 8081);
  assert.equal(env.int('MISSING', 42), 42);
  assert.equal(env.int('BAD', 1), 1);
  assert.equal(env.int('FRACTION', 1), 1);
  assert.equal(env.int('LOW', 1), 1);
  assert.equal(env.int('HIGH', 1, { max: 65535 }), 1);
  assert.equal(env.num('RATIO', 0.2, { max: 1 }), 0.25);
  assert.equal(env.num('NAN', 0.2), 0.2);
  assert.deepEqual(env.problems, [
    'BAD="abc" must be an integer between 0 and 9007199254740991',
    'FRACTION="1.5" must be an integer between 0 and 9007199254740991',
    'LOW="-1" must be an integer between 0 and 9007199254740991',
    'HIGH="70000" must be an integer between 0 and 65535',
    'NAN="x1" must be a number between 0 and 1.7976931348623157e+308',
  ]);
});

test('booleans accept the usual spellings in any case', () => {
  const env = new EnvReader({ A: 'TRUE', B: '1', C: 'yes', D: 'On', E: 'false', F: '0', G: 'No', H: 'off', I: 'maybe' });
  assert.deepEqual(['A', 'B', 'C', 'D'].map((name) => env.bool(name, false)), [true, true, true, true]);
  assert.deepEqual(['E', 'F', 'G', 'H'].map((name) => env.bool(name, true)), [false, false, false, false]);
  assert.equal(env.bool('I', true), true);
  assert.equal(env.bool('UNSET', true), true);
  assert.deepEqual(env.problems, ['I="maybe" must be true or false']);
});

test('lists, choices and URLs', () => {
  const env = new EnvReader({
    LIST: ' a, b ,,c ',
    LEVEL: 'DEBUG',
    BADLEVEL: 'loud',
    URL: 'https://example.com/hook',
    AMQP: 'amqp://localhost',
    NOTURL: 'not a url',
  });
  assert.deepEqual(env.list('LIST'), ['a', 'b', 'c']);
  assert.deepEqual(env.list('UNSET', ['x']), ['x']);
  assert.equal(env.oneOf('LEVEL', ['info', 'debug'] as const, 'info'), 'debug');
  assert.equal(env.oneOf('BADLEVEL', ['info', 'debug'] as const, 'info'), 'info');
  assert.equal(env.url('URL'), 'https://example.com/hook');
  assert.equal(env.url('UNSET'), undefined);
  assert.equal(env.url('UNSET', 'http://fallback'), 'http://fallback');
  assert.equal(env.url('AMQP', undefined, ['amqp:', 'amqps:']), 'amqp://localhost');
  assert.equal(env.url('AMQP'), undefined);
  assert.equal(env.url('NOTURL'), undefined);
  assert.deepEqual(env.problems, [
    'BADLEVEL="loud" must be one of info, debug',
    'AMQP="amqp://localhost" must be a URL starting with http:// or https://',
    'NOTURL="not a url" must be a URL starting with http:// or https://',
  ]);
});

test('event toggles: none set means every event; once any is set, only those set to true', () => {
  assert.deepEqual([...new EnvReader({}).eventToggles('RABBITMQ_EVENTS_')], [...EVENT_KEYS]);
  const env = new EnvReader({
    RABBITMQ_EVENTS_MESSAGES_UPSERT: 'true',
    RABBITMQ_EVENTS_CONNECTION_UPDATE: 'true',
    RABBITMQ_EVENTS_QRCODE_UPDATED: 'false',
    RABBITMQ_EVENTS_GROUP_UPDATE: 'true',
    NATS_EVENTS_SEND_MESSAGE: 'true',
  });
  assert.deepEqual(
    [...env.eventToggles('RABBITMQ_EVENTS_')].sort(),
    ['CONNECTION_UPDATE', 'GROUPS_UPDATE', 'MESSAGES_UPSERT'],
    'Evolution spells GROUPS_UPDATE as GROUP_UPDATE in its toggles; both work',
  );
  assert.deepEqual(env.problems, []);
});

test('event toggles report unknown event names and malformed values', () => {
  const env = new EnvReader({ WEBHOOK_EVENTS_MESSAGE_UPSERT: 'true', WEBHOOK_EVENTS_CALL: 'sometimes' });
  assert.deepEqual([...env.eventToggles('WEBHOOK_EVENTS_')], []);
  assert.equal(env.problems.length, 2);
  assert.match(env.problems[0] ?? '', /^WEBHOOK_EVENTS_MESSAGE_UPSERT names no known event \(known: APPLICATION_STARTUP, /);
  assert.equal(env.problems[1], 'WEBHOOK_EVENTS_CALL="sometimes" must be true or false');
});
