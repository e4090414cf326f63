import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterPredicate, parsePayloadFilter, passesFilter, type Filterable } from '../../src/core/payload-filter.ts';
import { PomboError } from '../../src/core/errors.ts';

const DIRECT = '5511999990001@s.whatsapp.net';
const GROUP = '120363000000000001@g.us';

const upsert = (remoteJid: string, fromMe: boolean, messageType = 'conversation'): Filterable => ({
  event: 'MESSAGES_UPSERT',
  data: { key: { remoteJid, fromMe, id: 'M1' }, message: {}, messageType },
});
const connection: Filterable = { event: 'CONNECTION_UPDATE', data: { instance: 'a', state: 'open' } };

test('fromMe keeps what the instance sent (true) or received (false), from data.key.fromMe or data.fromMe', () => {
  assert.equal(passesFilter({ fromMe: false }, upsert(DIRECT, false)), true);
  assert.equal(passesFilter({ fromMe: false }, upsert(DIRECT, true)), false);
  assert.equal(passesFilter({ fromMe: true }, upsert(DIRECT, true)), true);
  assert.equal(passesFilter({ fromMe: true }, { event: 'MESSAGES_UPDATE', data: { remoteJid: DIRECT, fromMe: false, status: 'READ' } }), false);
});

test('chats tells groups from direct chats by the JID; remoteJid keeps only the listed chats', () => {
  assert.equal(passesFilter({ chats: 'groups' }, upsert(GROUP, false)), true);
  assert.equal(passesFilter({ chats: 'groups' }, upsert(DIRECT, false)), false);
  assert.equal(passesFilter({ chats: 'direct' }, upsert(DIRECT, false)), true);
  assert.equal(passesFilter({ chats: 'direct' }, upsert('123@lid', false)), true);
  assert.equal(passesFilter({ chats: 'direct' }, upsert(GROUP, false)), false);
  assert.equal(passesFilter({ chats: 'direct' }, upsert('status@broadcast', false)), false, 'a broadcast is neither');
  assert.equal(passesFilter({ remoteJid: [GROUP] }, upsert(GROUP, true)), true);
  assert.equal(passesFilter({ remoteJid: [GROUP] }, upsert(DIRECT, true)), false);
  assert.equal(passesFilter({ chats: 'groups' }, { event: 'GROUPS_UPSERT', data: { id: GROUP, subject: 'g' } }), true, 'data.id as a JID');
  assert.equal(passesFilter({ chats: 'direct' }, { event: 'GROUPS_UPSERT', data: { id: GROUP, subject: 'g' } }), false);
});

test('messageType keeps the listed types; every condition given must hold', () => {
  assert.equal(passesFilter({ messageType: ['imageMessage'] }, upsert(DIRECT, false, 'imageMessage')), true);
  assert.equal(passesFilter({ messageType: ['imageMessage'] }, upsert(DIRECT, false)), false);
  const both = { fromMe: false, chats: 'groups' } as const;
  assert.equal(passesFilter(both, upsert(GROUP, false)), true);
  assert.equal(passesFilter(both, upsert(GROUP, true)), false);
  assert.equal(passesFilter(both, upsert(DIRECT, false)), false);
});

test('an event that does not carry a field is not held back by a condition on it', () => {
  const strict = { fromMe: true, chats: 'groups', remoteJid: [GROUP], messageType: ['imageMessage'] } as const;
  assert.equal(passesFilter(strict, connection), true);
  assert.equal(passesFilter(strict, { event: 'LOGOUT_INSTANCE', data: null }), true);
  assert.equal(passesFilter({ chats: 'groups' }, { event: 'MESSAGES_UPSERT', data: { id: 'not-a-jid' } }), true);
});

test('parsePayloadFilter validates, normalizes phone numbers to JIDs, and names the bad field', () => {
  assert.equal(parsePayloadFilter(undefined, 'webhook.filter'), null);
  assert.equal(parsePayloadFilter({}, 'webhook.filter'), null, 'an empty filter is no filter');
  assert.deepEqual(parsePayloadFilter({ fromMe: false, chats: 'direct', remoteJid: ['+55 11 99999-0001', GROUP, GROUP], messageType: ['conversation'] }, 'f'), {
    fromMe: false,
    chats: 'direct',
    remoteJid: [DIRECT, GROUP],
    messageType: ['conversation'],
  });
  const refused = (value: unknown, message: RegExp) =>
    assert.throws(() => parsePayloadFilter(value, 'webhook.filter'), (error: unknown) => error instanceof PomboError && error.status === 400 && message.test(error.message));
  refused('groups', /^webhook\.filter must be a JSON object/);
  refused({ fromme: true }, /^webhook\.filter\.fromme is not a filter field/);
  refused({ fromMe: 'no' }, /^webhook\.filter\.fromMe must be true/);
  refused({ chats: 'group' }, /^webhook\.filter\.chats must be "groups" or "direct"/);
  refused({ remoteJid: [] }, /^webhook\.filter\.remoteJid must be an array of 1 to 1000 strings/);
  refused({ remoteJid: ['abc'] }, /^webhook\.filter\.remoteJid\[0\] must be a JID/);
  refused({ messageType: [3] }, /^webhook\.filter\.messageType\[0\] must be a non-empty string/);
});

test('filterPredicate is undefined for no filter, so destinations without one pay nothing', () => {
  assert.equal(filterPredicate(null), undefined);
  assert.equal(filterPredicate({}), undefined);
  const predicate = filterPredicate({ fromMe: true });
  assert.equal(predicate?.(upsert(DIRECT, true)), true);
  assert.equal(predicate?.(upsert(DIRECT, false)), false);
});
