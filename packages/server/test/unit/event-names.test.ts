import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EVENT_ALIASES,
  EVENT_KEYS,
  EVENT_NAMES,
  REALTIME_TYPES,
  eventName,
  findEventName,
  keysForRealtimeType,
  realtimeTypeOf,
  type EventKey,
} from '../../src/core/event-names.ts';

const typeOf = (event: EventKey, data: unknown) => realtimeTypeOf({ event, data });

/** Every event of seed 001, in the seed's order (its tables, copied verbatim). */
const SEED_001_EVENTS = [
  'APPLICATION_STARTUP', 'INSTANCE_CREATE', 'INSTANCE_DELETE', 'QRCODE_UPDATED', 'CONNECTION_UPDATE', 'REMOVE_INSTANCE',
  'LOGOUT_INSTANCE', 'MESSAGES_SET', 'MESSAGES_UPSERT', 'MESSAGES_UPDATE', 'MESSAGES_DELETE', 'MESSAGES_EDITED', 'SEND_MESSAGE',
  'SEND_MESSAGE_UPDATE', 'CONTACTS_SET', 'CONTACTS_UPSERT', 'CONTACTS_UPDATE', 'CHATS_SET', 'CHATS_UPSERT', 'CHATS_UPDATE',
  'CHATS_DELETE', 'PRESENCE_UPDATE', 'GROUPS_UPSERT', 'GROUPS_UPDATE', 'GROUP_PARTICIPANTS_UPDATE', 'LABELS_EDIT',
  'LABELS_ASSOCIATION', 'CALL', 'TYPEBOT_START', 'TYPEBOT_CHANGE_STATUS', 'ERRORS',
];

/** Pombo's own operator events, beyond the seed's. */
const POMBO_EVENTS = ['WEBHOOK_DISABLED'];

/** Evolution API's events the seed's tables left out: `status.instance` (its Events enum, sent beside connection.update). */
const EVOLUTION_EVENTS = ['STATUS_INSTANCE'];

test("the table holds exactly the events of seed 001, Evolution API's status.instance, and Pombo's operator events", () => {
  assert.deepEqual([...EVENT_KEYS].sort(), [...SEED_001_EVENTS, ...EVOLUTION_EVENTS, ...POMBO_EVENTS].sort());
  assert.deepEqual([findEventName('WEBHOOK_DISABLED')?.dotted, findEventName('webhook-disabled')?.key], ['webhook.disabled', 'WEBHOOK_DISABLED']);
});

test('wire forms follow Evolution API, including its irregular names', () => {
  const forms = (key: string) => {
    const name = findEventName(key);
    assert.ok(name, key);
    return [name.dotted, name.kebab];
  };
  assert.deepEqual(forms('MESSAGES_UPSERT'), ['messages.upsert', 'messages-upsert']);
  assert.deepEqual(forms('CONNECTION_UPDATE'), ['connection.update', 'connection-update']);
  assert.deepEqual(forms('SEND_MESSAGE_UPDATE'), ['send.message.update', 'send-message-update']);
  assert.deepEqual(forms('GROUP_PARTICIPANTS_UPDATE'), ['group-participants.update', 'group-participants-update']);
  assert.deepEqual(forms('TYPEBOT_CHANGE_STATUS'), ['typebot.change-status', 'typebot-change-status']);
  assert.deepEqual(forms('APPLICATION_STARTUP'), ['application.startup', 'application-startup']);
  assert.deepEqual(forms('CALL'), ['call', 'call']);
});

test('every form of every event finds that event, and no two events share a form', () => {
  const owners = new Map<string, string>();
  for (const name of EVENT_NAMES) {
    for (const form of new Set([name.key, name.dotted, name.kebab])) {
      assert.equal(findEventName(form)?.key, name.key, form);
      assert.equal(owners.get(form) ?? name.key, name.key, `${form} is used by ${owners.get(form)} and ${name.key}`);
      owners.set(form, name.key);
    }
    assert.match(name.key, /^[A-Z]+(_[A-Z]+)*$/);
    assert.match(name.kebab, /^[a-z]+(-[a-z]+)*$/, 'kebab forms are safe in topics, queues and routing keys');
    assert.equal(eventName(name.key), name);
  }
});

test('lower-case snake names are accepted; unknown names are not', () => {
  assert.equal(findEventName('messages_upsert')?.key, 'MESSAGES_UPSERT');
  assert.equal(findEventName('MESSAGES.UPSERT'), undefined);
  assert.equal(findEventName('MESSAGE_UPSERT'), undefined);
  assert.equal(findEventName(''), undefined);
  assert.throws(() => eventName('NOPE' as never), /unknown event key NOPE/);
});

test('events map onto the realtime vocabulary of seed 000, by data where it decides', () => {
  assert.equal(typeOf('MESSAGES_UPSERT', {}), 'Message');
  assert.equal(typeOf('SEND_MESSAGE', {}), 'Message');
  assert.equal(typeOf('MESSAGES_UPDATE', { status: 'READ' }), 'ReadReceipt');
  assert.equal(typeOf('MESSAGES_SET', []), 'HistorySync');
  assert.equal(typeOf('CONNECTION_UPDATE', { state: 'open' }), 'Connected');
  assert.equal(typeOf('CONNECTION_UPDATE', { state: 'close' }), 'Disconnected');
  assert.equal(typeOf('CONNECTION_UPDATE', { state: 'connecting' }), 'CONNECTION_UPDATE');
  assert.equal(typeOf('CONNECTION_UPDATE', null), 'CONNECTION_UPDATE');
  const presence = (lastKnownPresence: string) => ({ id: 'x@s.whatsapp.net', presences: { 'x@s.whatsapp.net': { lastKnownPresence } } });
  assert.equal(typeOf('PRESENCE_UPDATE', presence('available')), 'Presence');
  assert.equal(typeOf('PRESENCE_UPDATE', presence('unavailable')), 'Presence');
  assert.equal(typeOf('PRESENCE_UPDATE', presence('composing')), 'ChatPresence');
  assert.equal(typeOf('PRESENCE_UPDATE', presence('recording')), 'ChatPresence');
  assert.equal(typeOf('PRESENCE_UPDATE', { presence: 'paused' }), 'ChatPresence');
  assert.equal(typeOf('GROUP_PARTICIPANTS_UPDATE', { action: 'add' }), 'GroupParticipantsAdd');
  assert.equal(typeOf('GROUP_PARTICIPANTS_UPDATE', { action: 'remove' }), 'GroupParticipantsRemove');
  assert.equal(typeOf('GROUP_PARTICIPANTS_UPDATE', { action: 'promote' }), 'GROUP_PARTICIPANTS_UPDATE');
  assert.equal(typeOf('CALL', {}), 'CALL', 'an event with no realtime word keeps its key');
});

test('every realtime type comes from at least one event, and the reverse lookup agrees', () => {
  assert.deepEqual(keysForRealtimeType('Message'), ['MESSAGES_UPSERT', 'SEND_MESSAGE']);
  assert.deepEqual(keysForRealtimeType('Connected'), ['CONNECTION_UPDATE']);
  assert.deepEqual(keysForRealtimeType('ChatPresence'), ['PRESENCE_UPDATE']);
  for (const type of REALTIME_TYPES) {
    const keys = keysForRealtimeType(type);
    assert.ok(keys.length > 0, `${type} has no event`);
    for (const key of keys) assert.ok(eventName(key).realtime?.types.includes(type));
  }
});

test("Evolution's aliases select their events; an ingested name must be the event's own (GROUP_UPDATE is)", () => {
  const asFilter = (name: string) => findEventName(name, 'filter')?.key;
  assert.deepEqual(['GROUP_UPDATE', 'MESSAGING_HISTORY_SET', 'group_update'].map(asFilter), ['GROUPS_UPDATE', 'MESSAGES_SET', 'GROUPS_UPDATE']);
  assert.equal(findEventName('GROUP_UPDATE')?.key, 'GROUPS_UPDATE');
  assert.equal(findEventName('MESSAGING_HISTORY_SET'), undefined);
  for (const { alias } of EVENT_ALIASES) assert.ok(!(EVENT_KEYS as readonly string[]).includes(alias), `${alias} is an alias, not a key`);
});

test("Evolution's status.instance is an event of its own, in every form and every use (it once stood for CONNECTION_UPDATE)", () => {
  for (const form of ['STATUS_INSTANCE', 'status.instance', 'status-instance', 'status_instance']) {
    for (const use of ['event', 'filter'] as const) assert.equal(findEventName(form, use)?.key, 'STATUS_INSTANCE', `${form} (${use})`);
  }
  const name = eventName('STATUS_INSTANCE');
  assert.deepEqual([name.dotted, name.kebab], ['status.instance', 'status-instance']);
  assert.equal(realtimeTypeOf({ event: 'STATUS_INSTANCE', data: { instance: 'a', status: 'closed' } }), 'STATUS_INSTANCE', 'no realtime word: its key');
  assert.ok(!EVENT_ALIASES.some(({ alias }) => (alias as string) === 'STATUS_INSTANCE'));
});
