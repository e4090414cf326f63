import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { assertError, logOf } from './http-assert.ts';
import { scanInstanceLog } from '../../src/log-views/instance-log.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo();
});
after(async () => {
  await pombo.close();
});

let nextNumber = 5511930000000 + Math.floor(Math.random() * 1_000_000) * 10;

async function member(prefix: string): Promise<{ name: string; number: string; jid: string; token: string }> {
  const name = uniqueName(prefix);
  const number = String(nextNumber++);
  const { token } = await pombo.sandbox(name, { number });
  return { name, number, jid: `${number}@s.whatsapp.net`, token };
}

const text = (from: { name: string }, to: string, words: string) => pombo.api('POST', `/message/sendText/${from.name}`, { number: to, text: words });

describe('POST /instance/restart/:instanceName', () => {
  test('reconnects a sandbox number (CONNECTION_UPDATE connecting, then open) and answers its state; PUT works too', async () => {
    const alice = await member('alice');
    const restarted = await pombo.api('POST', `/instance/restart/${alice.name}`, undefined, alice.token);
    assert.equal(restarted.status, 200, JSON.stringify(restarted.body));
    assert.deepEqual(restarted.body, { instance: { instanceName: alice.name, state: 'open' } });
    const updates = (await logOf(pombo, alice.name)).slice(3);
    assert.deepEqual(updates.map((e) => [e.event, e.data.state]), [['connection.update', 'connecting'], ['connection.update', 'open']]);
    assert.equal(updates[1].data.wuid, alice.jid);
    assert.equal((await pombo.api('PUT', `/instance/restart/${alice.name}`)).status, 200);
    assert.equal((await text(alice, '5511900000001', 'still here')).status, 201, 'the number still sends');
  });

  test('a closed instance gets 409, an ingest one 400, another instance’s token 403', async () => {
    const alice = await member('alice');
    const bob = await member('bob');
    await pombo.api('DELETE', `/instance/logout/${alice.name}`);
    assertError(await pombo.api('POST', `/instance/restart/${alice.name}`), 409, 'POMBO_ERR_INSTANCE_NOT_CONNECTED');
    const ingest = uniqueName('ingest');
    await pombo.api('POST', '/instance/create', { instanceName: ingest, integration: 'INGEST' });
    assertError(await pombo.api('POST', `/instance/restart/${ingest}`), 400, 'POMBO_ERR_WRONG_INTEGRATION');
    assertError(await pombo.api('POST', `/instance/restart/${bob.name}`, undefined, alice.token), 403, 'POMBO_ERR_FORBIDDEN');
    assertError(await pombo.api('POST', `/instance/restart/${uniqueName('nobody')}`), 404, 'POMBO_ERR_INSTANCE_NOT_FOUND');
  });
});

describe('settings', () => {
  test('find answers Evolution’s defaults, set stores the fields given and answers Evolution’s shape', async () => {
    const alice = await member('alice');
    const found = await pombo.api('GET', `/settings/find/${alice.name}`, undefined, alice.token);
    assert.equal(found.status, 200);
    assert.deepEqual(found.body, {
      rejectCall: false,
      msgCall: '',
      groupsIgnore: false,
      alwaysOnline: false,
      readMessages: false,
      readStatus: false,
      syncFullHistory: false,
      wavoipToken: '',
    });
    const set = await pombo.api('POST', `/settings/set/${alice.name}`, { rejectCall: true, msgCall: 'Não atendo chamadas', groupsIgnore: true }, alice.token);
    assert.equal(set.status, 201, JSON.stringify(set.body));
    assert.equal(set.body.settings.instanceName, alice.name);
    assert.equal(set.body.settings.settings.rejectCall, true);
    const after = (await pombo.api('GET', `/settings/find/${alice.name}`)).body;
    assert.deepEqual([after.rejectCall, after.msgCall, after.groupsIgnore, after.alwaysOnline], [true, 'Não atendo chamadas', true, false]);
    await pombo.api('POST', `/settings/set/${alice.name}`, { msgCall: '' });
    assert.equal((await pombo.api('GET', `/settings/find/${alice.name}`)).body.msgCall, '', 'an empty text clears it');
    assert.equal((await pombo.api('GET', `/settings/find/${alice.name}`)).body.rejectCall, true, 'fields left out keep their value');

    assertError(await pombo.api('POST', `/settings/set/${alice.name}`, { rejectCall: 'yes' }), 400, 'POMBO_ERR_VALIDATION', /rejectCall must be true or false/);
    const bob = await member('bob');
    assertError(await pombo.api('GET', `/settings/find/${bob.name}`, undefined, alice.token), 403, 'POMBO_ERR_FORBIDDEN');
    assertError(await pombo.api('POST', `/settings/set/${bob.name}`, { rejectCall: true }, alice.token), 403, 'POMBO_ERR_FORBIDDEN');
  });

  test('/instance/create takes the settings at the top of the body, as Evolution API does', async () => {
    const name = uniqueName('settings');
    const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'WHATSAPP-BAILEYS', alwaysOnline: true, readMessages: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.settings.alwaysOnline, true);
    const found = (await pombo.api('GET', `/settings/find/${name}`)).body;
    assert.deepEqual([found.alwaysOnline, found.readMessages, found.rejectCall], [true, true, false]);
    assertError(await pombo.api('POST', '/instance/create', { instanceName: uniqueName('bad'), syncFullHistory: 1 }), 400, 'POMBO_ERR_VALIDATION', /syncFullHistory/);
  });
});

describe('POST /chat/findMessages/:instanceName', () => {
  test('lists the messages of the log newest first in Evolution’s page shape, with their statuses, filtered by key', async () => {
    const alice = await member('alice');
    const bob = await member('bob');
    const first = (await text(alice, bob.number, 'um')).body.key.id;
    await text(bob, alice.number, 'dois');
    const third = (await text(alice, bob.number, 'três')).body.key.id;

    const all = await pombo.api('POST', `/chat/findMessages/${alice.name}`, {}, alice.token);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    const { total, pages, currentPage, records } = all.body.messages;
    assert.deepEqual([total, pages, currentPage], [3, 1, 1]);
    assert.deepEqual(records.map((r: any) => r.message.conversation), ['três', 'dois', 'um']);
    const sent = records[0];
    assert.deepEqual(sent.key, { remoteJid: bob.jid, fromMe: true, id: third });
    assert.equal(sent.messageType, 'conversation');
    assert.equal(sent.instanceId, all.body.messages.records[1].instanceId);
    assert.match(sent.id, /^evt_/);
    assert.deepEqual(sent.MessageUpdate, [{ status: 'DELIVERY_ACK' }, { status: 'READ' }]);
    assert.deepEqual(records[1].key, { remoteJid: bob.jid, fromMe: false, id: records[1].key.id });
    assert.equal(records[1].pushName, bob.name);

    const mine = await pombo.api('POST', `/chat/findMessages/${alice.name}`, { where: { key: { fromMe: true } } });
    assert.deepEqual(mine.body.messages.records.map((r: any) => r.key.id), [third, first]);
    const one = await pombo.api('POST', `/chat/findMessages/${alice.name}`, { where: { key: { id: first } } });
    assert.deepEqual(one.body.messages.records.map((r: any) => r.message.conversation), ['um']);
    const none = await pombo.api('POST', `/chat/findMessages/${alice.name}`, { where: { key: { remoteJid: '5500000000000@s.whatsapp.net' } } });
    assert.deepEqual(none.body.messages, { total: 0, pages: 0, currentPage: 1, records: [] });
    const future = await pombo.api('POST', `/chat/findMessages/${alice.name}`, { where: { messageTimestamp: { gte: new Date(Date.now() + 3_600_000).toISOString() } } });
    assert.equal(future.body.messages.total, 0);

    const paged = await pombo.api('POST', `/chat/findMessages/${alice.name}`, { offset: 2, page: 2 });
    assert.deepEqual([paged.body.messages.total, paged.body.messages.pages, paged.body.messages.currentPage], [3, 2, 2]);
    assert.deepEqual(paged.body.messages.records.map((r: any) => r.message.conversation), ['um']);
  });

  test('pages are bounded and the body is checked; another instance’s token gets 403', async () => {
    const alice = await member('alice');
    const bob = await member('bob');
    assertError(await pombo.api('POST', `/chat/findMessages/${alice.name}`, { offset: 1001 }), 400, 'POMBO_ERR_VALIDATION', /offset must be an integer between 1 and 1000/);
    assertError(await pombo.api('POST', `/chat/findMessages/${alice.name}`, { page: 0 }), 400, 'POMBO_ERR_VALIDATION', /page/);
    assertError(await pombo.api('POST', `/chat/findMessages/${alice.name}`, { where: { key: { fromMe: 'yes' } } }), 400, 'POMBO_ERR_VALIDATION', /where.key.fromMe/);
    assertError(await pombo.api('POST', `/chat/findMessages/${alice.name}`, { where: { messageTimestamp: { gte: 'soon' } } }), 400, 'POMBO_ERR_VALIDATION', /where.messageTimestamp.gte must be a date/);
    assertError(await pombo.api('POST', `/chat/findMessages/${bob.name}`, {}, alice.token), 403, 'POMBO_ERR_FORBIDDEN');
    assertError(await pombo.api('POST', `/chat/findMessages/${alice.name}`, {}, null), 401, 'POMBO_ERR_UNAUTHORIZED');
  });

  test('an ingest instance’s messages come from what its producer ingested, history sync included', async () => {
    const name = uniqueName('ingest');
    await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'EVOLUTION' });
    const message = (id: string, at: number) => ({ key: { remoteJid: '5511911112222@s.whatsapp.net', fromMe: false, id }, message: { conversation: id }, messageType: 'conversation', messageTimestamp: at });
    await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_SET', data: [message('old-1', 1_700_000_000), message('old-2', 1_700_000_100)] });
    await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: message('new', 1_800_000_000) });
    const found = await pombo.api('POST', `/chat/findMessages/${name}`, {});
    assert.deepEqual(found.body.messages.records.map((r: any) => r.key.id), ['new', 'old-2', 'old-1']);
  });
});

describe('POST /chat/findChats/:instanceName', () => {
  test('one chat per conversation, newest first, with the last message, the other side’s name and what is unread', async () => {
    const alice = await member('alice');
    const bob = await member('bob');
    const carol = await member('carol');
    await text(bob, alice.number, 'oi alice');
    await text(alice, bob.number, 'oi bob');
    await text(carol, alice.number, 'alice?');
    await new Promise((resolve) => setTimeout(resolve, 1100)); // message times are in seconds
    await text(carol, alice.number, 'alice??');
    const group = (await pombo.api('POST', `/group/create/${bob.name}`, { subject: 'Amigos', participants: [alice.number] })).body;
    await text(bob, group.id, 'no grupo');

    const chats = await pombo.api('POST', `/chat/findChats/${alice.name}`, {}, alice.token);
    assert.equal(chats.status, 200, JSON.stringify(chats.body));
    const byJid = new Map(chats.body.map((chat: any) => [chat.remoteJid, chat]));
    assert.equal(chats.body.length, 3);
    const withCarol: any = byJid.get(carol.jid);
    assert.equal(withCarol.pushName, carol.name);
    assert.equal(withCarol.unreadCount, 2);
    assert.equal(withCarol.lastMessage.message.conversation, 'alice??');
    const withBob: any = byJid.get(bob.jid);
    assert.equal(withBob.unreadCount, 0, 'alice answered bob');
    assert.equal(withBob.lastMessage.message.conversation, 'oi bob');
    const inGroup: any = byJid.get(group.id);
    assert.equal(inGroup.pushName, 'Amigos', 'a group goes by its subject');
    assert.equal(inGroup.lastMessage.key.participant, bob.jid);
    assert.equal(chats.body.at(-1).remoteJid, bob.jid, 'the oldest conversation last');

    const only = await pombo.api('POST', `/chat/findChats/${alice.name}`, { where: { remoteJid: carol.jid } });
    assert.deepEqual(only.body.map((chat: any) => chat.remoteJid), [carol.jid]);
    const page = await pombo.api('POST', `/chat/findChats/${alice.name}`, { skip: 1, take: 1 });
    assert.equal(page.body.length, 1);
    assert.equal(page.body[0].remoteJid, chats.body[1].remoteJid);
    assertError(await pombo.api('POST', `/chat/findChats/${alice.name}`, { take: 5000 }), 400, 'POMBO_ERR_VALIDATION', /take must be an integer between 1 and 1000/);
    assertError(await pombo.api('POST', `/chat/findChats/${bob.name}`, {}, alice.token), 403, 'POMBO_ERR_FORBIDDEN');
  });
});

describe('GET /group/fetchAllGroups/:instanceName', () => {
  test('the groups the instance is in, with participants when asked; a member removed no longer lists it', async () => {
    const alice = await member('alice');
    const bob = await member('bob');
    const carol = await member('carol');
    const group = (await pombo.api('POST', `/group/create/${alice.name}`, { subject: 'Projeto', participants: [bob.number] })).body;
    const path = `/group/updateParticipant/${alice.name}?groupJid=${encodeURIComponent(group.id)}`;
    await pombo.api('POST', path, { action: 'add', participants: [carol.number] });

    const listed = await pombo.api('GET', `/group/fetchAllGroups/${bob.name}?getParticipants=true`, undefined, bob.token);
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.equal(listed.body.length, 1);
    const [seen] = listed.body;
    assert.equal(seen.id, group.id);
    assert.equal(seen.subject, 'Projeto');
    assert.equal(seen.owner, alice.jid);
    assert.equal(seen.size, 3);
    assert.deepEqual(
      seen.participants.map((p: any) => [p.id, p.admin]).sort(),
      [[alice.jid, 'superadmin'], [bob.jid, null], [carol.jid, null]].sort(),
    );
    const bare = await pombo.api('GET', `/group/fetchAllGroups/${bob.name}?getParticipants=false`);
    assert.equal(bare.body[0].participants, undefined);
    assert.equal(bare.body[0].size, 3);
    assert.equal((await pombo.api('GET', `/group/fetchAllGroups/${carol.name}?getParticipants=false`)).body.length, 1, 'a member added later lists it');

    await pombo.api('POST', path, { action: 'remove', participants: [bob.number] });
    assert.deepEqual((await pombo.api('GET', `/group/fetchAllGroups/${bob.name}?getParticipants=false`)).body, []);
    assert.equal((await pombo.api('GET', `/group/fetchAllGroups/${alice.name}?getParticipants=true`)).body[0].size, 2);

    assertError(await pombo.api('GET', `/group/fetchAllGroups/${alice.name}?getParticipants=maybe`), 400, 'POMBO_ERR_VALIDATION', /getParticipants must be true or false/);
    assertError(await pombo.api('GET', `/group/fetchAllGroups/${alice.name}?getParticipants=false`, undefined, bob.token), 403, 'POMBO_ERR_FORBIDDEN');
  });
});

test('the views look at the newest events of the log, however many precede them', async () => {
  const name = uniqueName('busy');
  await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
  const events = Array.from({ length: 2500 }, (_, n) => ({ event: 'MESSAGES_UPSERT', data: { key: { id: `m${n}` }, n } }));
  for (let start = 0; start < events.length; start += 1000) {
    assert.equal((await pombo.api('POST', `/events/${name}`, events.slice(start, start + 1000))).status, 201);
  }
  const instance = pombo.pombo.context.instances.get(name);
  const seen: number[] = [];
  await scanInstanceLog(pombo.pombo.context.store, instance, ['MESSAGES_UPSERT'], (event) => seen.push((event.data as { n: number }).n), 700);
  assert.deepEqual(seen, Array.from({ length: 700 }, (_, i) => 1800 + i), 'the newest 700, oldest first');
});

test('GET /<channel>/find answers null for a channel never set, as Evolution API does; once set, even disabled, its configuration', async () => {
  const name = uniqueName('unset');
  const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
  for (const channel of ['websocket', 'rabbitmq', 'sqs', 'kafka', 'nats', 'pusher']) {
    const found = await pombo.api('GET', `/${channel}/find/${name}`, undefined, created.body.hash);
    assert.equal(found.status, 200, channel);
    assert.equal(found.body, null, `${channel}: the JSON null, so that a client's "if (${channel})" is false`);
  }
  await pombo.api('POST', `/rabbitmq/set/${name}`, { rabbitmq: { enabled: false } });
  const disabled = (await pombo.api('GET', `/rabbitmq/find/${name}`)).body;
  assert.equal(disabled.enabled, false);
  assert.deepEqual(disabled.events, []);
  await pombo.api('POST', `/websocket/set/${name}`, { websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } });
  assert.deepEqual((await pombo.api('GET', `/websocket/find/${name}`)).body.events, ['MESSAGES_UPSERT']);
});

test("POST /instance/setPresence answers the presence set, as Evolution API, and emits nothing on the instance's own log", async () => {
  const alice = await member('alice');
  const before = (await logOf(pombo, alice.name)).length;
  const set = await pombo.api('POST', `/instance/setPresence/${alice.name}`, { presence: 'unavailable' }, alice.token);
  assert.equal(set.status, 201, JSON.stringify(set.body));
  assert.deepEqual(set.body, { presence: 'unavailable' });
  assert.equal((await logOf(pombo, alice.name)).length, before, 'Baileys reports contacts\' presences, never the instance\'s own');

  assertError(await pombo.api('POST', `/instance/setPresence/${alice.name}`, { presence: 'asleep' }), 400, 'POMBO_ERR_VALIDATION', /presence/);
  assertError(await pombo.api('POST', `/instance/setPresence/${alice.name}`, {}), 400, 'POMBO_ERR_VALIDATION', /presence is required/);
  const idle = uniqueName('idle');
  await pombo.api('POST', '/instance/create', { instanceName: idle });
  assertError(await pombo.api('POST', `/instance/setPresence/${idle}`, { presence: 'available' }), 409, 'POMBO_ERR_INSTANCE_NOT_CONNECTED');
});
