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

test('a quoted empty value, as `docker run --env-file` passes it on, counts as unset', () => {
  const env = new EnvReader({ SINGLE: "''", DOUBLE: '""', SPACES: "' '", TOGGLE: '""' });
  assert.equal(env.raw('SINGLE'), undefined);
  assert.equal(env.url('SINGLE'), undefined);
  assert.equal(env.str('DOUBLE', 'fallback'), 'fallback');
  assert.equal(env.str('SPACES'), undefined);
  assert.equal(env.has('DOUBLE'), false);
  assert.deepEqual(env.names('TOGGLE'), []);
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
    'BAD="abc" must be an integer at least 0',
    'FRACTION="1.5" must be an integer at least 0',
    'LOW="-1" must be an integer at least 0',
    'HIGH="70000" must be an integer between 0 and 65535',
    'NAN="x1" must be a number at least 0',
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

test('event toggles ignore names no event has (toggles of other Evolution API versions), noting them for one boot warning', () => {
  const env = new EnvReader({
    WEBHOOK_EVENTS_NEW_JWT_TOKEN: 'true',
    WEBHOOK_EVENTS_CHAMA_AI_ACTION: 'false',
    WEBHOOK_EVENTS_MESSAGES_UPSERT: 'true',
    WEBHOOK_EVENTS_CALL: 'sometimes',
  });
  assert.deepEqual([...env.eventToggles('WEBHOOK_EVENTS_')], ['MESSAGES_UPSERT']);
  assert.deepEqual(env.problems, ['WEBHOOK_EVENTS_CALL="sometimes" must be true or false'], 'a known toggle is still checked');
  assert.deepEqual([...env.unknownToggles], ['WEBHOOK_EVENTS_NEW_JWT_TOKEN', 'WEBHOOK_EVENTS_CHAMA_AI_ACTION']);
  env.warnings.push('LOG_LEVEL: "WRAN" is no level or Evolution API category; ignored');
  assert.deepEqual(env.bootWarnings(), [
    'LOG_LEVEL: "WRAN" is no level or Evolution API category; ignored',
    'WEBHOOK_EVENTS_NEW_JWT_TOKEN, WEBHOOK_EVENTS_CHAMA_AI_ACTION name no event Pombo has; ignored (toggles of Evolution API versions or integrations Pombo does not carry)',
  ], 'the warnings of what was read, then the unknown toggles in one');
  assert.deepEqual(new EnvReader({}).bootWarnings(), []);
  const only = new EnvReader({ NATS_EVENTS_NEW_JWT_TOKEN: 'true' });
  assert.deepEqual([...only.eventToggles('NATS_EVENTS_')], [...EVENT_KEYS], 'an ignored toggle does not narrow the events');
});

test("an alias never overrides its event's own toggle: the explicit key wins, whatever the order", () => {
  const explicitOff = new EnvReader({ WEBHOOK_EVENTS_MESSAGING_HISTORY_SET: 'true', WEBHOOK_EVENTS_MESSAGES_SET: 'false', WEBHOOK_EVENTS_CALL: 'true' });
  assert.deepEqual([...explicitOff.eventToggles('WEBHOOK_EVENTS_')], ['CALL']);
  const explicitOn = new EnvReader({ WEBHOOK_EVENTS_MESSAGES_SET: 'true', WEBHOOK_EVENTS_MESSAGING_HISTORY_SET: 'false' });
  assert.deepEqual([...explicitOn.eventToggles('WEBHOOK_EVENTS_')], ['MESSAGES_SET']);
  const aliasOnly = new EnvReader({ WEBHOOK_EVENTS_MESSAGING_HISTORY_SET: 'true', WEBHOOK_EVENTS_CALL: 'false' });
  assert.deepEqual([...aliasOnly.eventToggles('WEBHOOK_EVENTS_')], ['MESSAGES_SET'], 'an alias alone still selects its event');
  const twoPrefixes = new EnvReader({ SQS_GLOBAL_GROUP_UPDATE: 'true', SQS_EVENTS_GROUPS_UPDATE: 'false' });
  assert.deepEqual([...twoPrefixes.eventToggles(['SQS_GLOBAL_', 'SQS_EVENTS_'])], [], 'across the prefixes of one set too');
  for (const env of [explicitOff, explicitOn, aliasOnly, twoPrefixes]) assert.deepEqual(env.problems, []);
});

test('*_EVENTS_STATUS_INSTANCE is the toggle of status.instance itself, not an alias of CONNECTION_UPDATE', () => {
  const only = new EnvReader({ WEBHOOK_EVENTS_STATUS_INSTANCE: 'true' });
  assert.deepEqual([...only.eventToggles('WEBHOOK_EVENTS_')], ['STATUS_INSTANCE']);
  const both = new EnvReader({ KAFKA_EVENTS_STATUS_INSTANCE: 'true', KAFKA_EVENTS_CONNECTION_UPDATE: 'true' });
  assert.deepEqual([...both.eventToggles('KAFKA_EVENTS_')], ['CONNECTION_UPDATE', 'STATUS_INSTANCE']);
  const off = new EnvReader({ SQS_GLOBAL_STATUS_INSTANCE: 'false', SQS_GLOBAL_CONNECTION_UPDATE: 'true' });
  assert.deepEqual([...off.eventToggles(['SQS_GLOBAL_', 'SQS_EVENTS_'])], ['CONNECTION_UPDATE']);
  const offAlone = new EnvReader({ PUSHER_EVENTS_STATUS_INSTANCE: 'false' });
  assert.deepEqual([...offAlone.eventToggles('PUSHER_EVENTS_')], [], 'a toggle set, so only those set to true');
  for (const env of [only, both, off, offAlone]) {
    assert.deepEqual(env.problems, []);
    assert.deepEqual(env.bootWarnings(), [], 'a known toggle, not an unknown one');
  }
});
