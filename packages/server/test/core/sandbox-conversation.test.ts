import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { assertError, logOf } from './http-assert.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo();
});
after(async () => {
  await pombo.close();
});

let nextNumber = 5511940000000 + Math.floor(Math.random() * 1_000_000) * 10;

/** A connected sandbox instance with its own number. */
async function member(prefix: string): Promise<{ name: string; number: string; jid: string }> {
  const name = uniqueName(prefix);
  const number = String(nextNumber++);
  await pombo.sandbox(name, { number });
  return { name, number, jid: `${number}@s.whatsapp.net` };
}

/** The events logged after the first `skip` ones (connecting an instance logs three). */
const since = async (name: string, skip = 3) => (await logOf(pombo, name)).slice(skip);

test('alice → bob: SEND_MESSAGE, DELIVERY_ACK and READ on alice with consecutive seqs; MESSAGES_UPSERT on bob', async () => {
  const alice = await member('alice');
  const bob = await member('bob');
  const sent = await pombo.api('POST', `/message/sendText/${alice.name}`, { number: bob.number, text: 'Olá, Bob!' });
  assert.equal(sent.status, 201);
  assert.equal(sent.body.key.remoteJid, bob.jid);
  assert.equal(sent.body.key.fromMe, true);
  const id = sent.body.key.id;

  const onAlice = await since(alice.name);
  assert.deepEqual(onAlice.map((e) => [e.event, e.seq]), [['send.message', 4], ['messages.update', 5], ['messages.update', 6]]);
  const [send, delivered, read] = onAlice;
  assert.deepEqual(send.data.key, { remoteJid: bob.jid, fromMe: true, id });
  assert.deepEqual(send.data.message, { conversation: 'Olá, Bob!' });
  assert.equal(send.data.pushName, alice.name);
  assert.equal(typeof send.data.messageTimestamp, 'number');
  assert.equal(send.sender, alice.jid);
  assert.deepEqual([delivered.data.status, read.data.status], ['DELIVERY_ACK', 'READ']);
  for (const receipt of [delivered, read]) {
    assert.equal(receipt.data.keyId, id);
    assert.equal(receipt.data.remoteJid, bob.jid);
    assert.equal(receipt.data.fromMe, true);
  }

  const onBob = await since(bob.name);
  assert.deepEqual(onBob.map((e) => [e.event, e.seq]), [['messages.upsert', 4]]);
  const [upsert] = onBob;
  assert.deepEqual(upsert.data.key, { remoteJid: alice.jid, fromMe: false, id });
  assert.deepEqual(upsert.data.message, { conversation: 'Olá, Bob!' });
  assert.equal(upsert.data.pushName, alice.name);
  assert.equal(upsert.data.messageTimestamp, send.data.messageTimestamp);
  assert.equal(upsert.sender, bob.jid, 'the envelope sender is the receiving instance');
  assert.equal(upsert.instance, bob.name);
});

test('bob answers: the conversation goes the other way with each side’s seq continuing', async () => {
  const alice = await member('alice');
  const bob = await member('bob');
  await pombo.api('POST', `/message/sendText/${alice.name}`, { number: bob.number, text: 'ping' });
  await pombo.api('POST', `/message/sendText/${bob.name}`, { number: alice.jid, text: 'pong' });
  const onAlice = await since(alice.name);
  assert.deepEqual(onAlice.map((e) => [e.event, e.seq]), [['send.message', 4], ['messages.update', 5], ['messages.update', 6], ['messages.upsert', 7]]);
  assert.equal(onAlice[3].data.message.conversation, 'pong');
  assert.equal(onAlice[3].data.key.remoteJid, bob.jid);
});

test('a message to a number outside the sandbox is sent but never delivered', async () => {
  const alice = await member('alice');
  const sent = await pombo.api('POST', `/message/sendText/${alice.name}`, { number: '5599999999999', text: 'anyone?' });
  assert.equal(sent.status, 201);
  assert.deepEqual((await since(alice.name)).map((e) => e.event), ['send.message']);
});

test('numbers are accepted with formatting or as JIDs, and reach the same recipient', async () => {
  const alice = await member('alice');
  const bob = await member('bob');
  const formatted = `+${bob.number.slice(0, 2)} (${bob.number.slice(2, 4)}) ${bob.number.slice(4, 9)}-${bob.number.slice(9)}`;
  for (const number of [formatted, bob.jid]) {
    const sent = await pombo.api('POST', `/message/sendText/${alice.name}`, { number, text: number });
    assert.equal(sent.status, 201);
    assert.equal(sent.body.key.remoteJid, bob.jid);
  }
  assert.deepEqual((await since(bob.name)).map((e) => e.data.message.conversation), [formatted, bob.jid]);
});

test('a disconnected recipient receives nothing; a disconnected sender gets a 409 telling it to connect', async () => {
  const alice = await member('alice');
  const bob = await member('bob');
  await pombo.api('DELETE', `/instance/logout/${bob.name}`);
  await pombo.api('POST', `/message/sendText/${alice.name}`, { number: bob.number, text: 'are you there?' });
  assert.deepEqual((await since(bob.name)).map((e) => e.event), ['status.instance', 'logout.instance', 'connection.update']);
  assert.deepEqual((await since(alice.name)).map((e) => e.event), ['send.message']);

  const carol = uniqueName('carol');
  await pombo.api('POST', '/instance/create', { instanceName: carol });
  const refused = await pombo.api('POST', `/message/sendText/${carol}`, { number: bob.number, text: 'hi' });
  assertError(refused, 409, 'POMBO_ERR_INSTANCE_NOT_CONNECTED', new RegExp(`call GET /instance/connect/${carol} first`));
  assert.equal((await logOf(pombo, carol)).length, 1);
  const ingest = uniqueName('ingest');
  await pombo.api('POST', '/instance/create', { instanceName: ingest, integration: 'INGEST' });
  assertError(await pombo.api('POST', `/message/sendText/${ingest}`, { number: bob.number, text: 'hi' }), 400, 'POMBO_ERR_WRONG_INTEGRATION');
});

test('presence: the recipient sees PRESENCE_UPDATE for the sender', async () => {
  const alice = await member('alice');
  const bob = await member('bob');
  const res = await pombo.api('POST', `/chat/sendPresence/${alice.name}`, { number: bob.number, presence: 'composing' });
  assert.equal(res.status, 201);
  const [presence, ...rest] = await since(bob.name);
  assert.equal(rest.length, 0);
  assert.equal(presence.event, 'presence.update');
  assert.deepEqual(presence.data, { id: alice.jid, presences: { [alice.jid]: { lastKnownPresence: 'composing' } } });
  assert.deepEqual(await since(alice.name), [], 'the sender logs nothing');
});

test('groups: create tells every member (GROUPS_UPSERT); add and remove tell old and new members (GROUP_PARTICIPANTS_UPDATE)', async () => {
  const [alice, bob, carol, dave] = await Promise.all([member('alice'), member('bob'), member('carol'), member('dave')]);
  const created = await pombo.api('POST', `/group/create/${alice.name}`, { subject: 'Família', participants: [bob.number, carol.number] });
  assert.equal(created.status, 201);
  const group = created.body;
  assert.match(group.id, /^\d+@g\.us$/);
  assert.equal(group.subject, 'Família');
  assert.equal(group.owner, alice.jid);
  assert.equal(group.size, 3);
  for (const who of [alice, bob, carol]) {
    const events = await since(who.name);
    assert.deepEqual(events.map((e) => e.event), ['groups.upsert'], who.name);
    assert.deepEqual(events[0].data, [group]);
  }
  assert.deepEqual(await since(dave.name), [], 'a non-member hears nothing');

  const path = `/group/updateParticipant/${alice.name}?groupJid=${encodeURIComponent(group.id)}`;
  const added = await pombo.api('POST', path, { action: 'add', participants: [dave.number] });
  assert.equal(added.status, 201);
  assert.deepEqual(added.body, { updateParticipants: [{ status: '200', jid: dave.jid }] });
  const removed = await pombo.api('POST', path, { action: 'remove', participants: [carol.number] });
  assert.equal(removed.status, 201);

  const updates = async (who: { name: string }) => (await since(who.name, 4)).map((e) => [e.event, e.data.action, e.data.participants]);
  const add = ['group-participants.update', 'add', [dave.jid]];
  const remove = ['group-participants.update', 'remove', [carol.jid]];
  assert.deepEqual(await updates(alice), [add, remove]);
  assert.deepEqual(await updates(bob), [add, remove]);
  assert.deepEqual(await updates(carol), [add, remove], 'the removed member is told');
  const [joined, ...daveUpdates] = await since(dave.name);
  assert.equal(joined.event, 'groups.upsert', 'an added member first sees the group appear');
  assert.equal(joined.data[0].id, group.id);
  assert.equal(joined.data[0].subject, 'Família');
  assert.ok(joined.data[0].participants.some((p: { id: string }) => p.id === dave.jid), 'with itself among the participants');
  assert.deepEqual(daveUpdates.map((e) => [e.event, e.data.action, e.data.participants]), [add, remove]);
  const again = await pombo.api('POST', path, { action: 'add', participants: [dave.number] });
  assert.equal(again.status, 201);
  assert.deepEqual((await since(dave.name, 6)).map((e) => e.event), ['group-participants.update'], 'adding a member again shows no new group');
  const [event] = await since(alice.name, 4);
  assert.deepEqual(event.data, { id: group.id, author: alice.jid, participants: [dave.jid], action: 'add' });

  const outsider = await pombo.api('POST', `/group/updateParticipant/${carol.name}?groupJid=${encodeURIComponent(group.id)}`, {
    action: 'add',
    participants: [carol.number],
  });
  assertError(outsider, 400, 'POMBO_ERR_VALIDATION', /is not a group/);
  assertError(await pombo.api('POST', `/group/updateParticipant/${alice.name}?groupJid=1@g.us`, { action: 'add', participants: [bob.number] }), 400, 'POMBO_ERR_VALIDATION', /is not a group/);
  assertError(await pombo.api('POST', path, { participants: [bob.number] }), 400, 'POMBO_ERR_VALIDATION', /action is required/);
});

test('groups: only the owner and the admins it promoted change the members, and nobody removes or demotes the owner', async () => {
  const [alice, bob, carol, dave] = await Promise.all([member('alice'), member('bob'), member('carol'), member('dave')]);
  const group = (await pombo.api('POST', `/group/create/${alice.name}`, { subject: 'Admins', participants: [bob.number, carol.number] })).body;
  const as = (who: { name: string }, action: string, target: { number: string }) =>
    pombo.api('POST', `/group/updateParticipant/${who.name}?groupJid=${encodeURIComponent(group.id)}`, { action, participants: [target.number] });
  for (const action of ['add', 'remove', 'promote', 'demote']) {
    assertError(await as(bob, action, action === 'add' ? dave : carol), 403, 'POMBO_ERR_NOT_GROUP_ADMIN', new RegExp(`"${bob.name}" is not an admin of the group`));
  }
  assertError(await as(bob, 'remove', alice), 403, 'POMBO_ERR_NOT_GROUP_ADMIN', /only its owner and admins/);
  assert.equal((await as(alice, 'promote', bob)).status, 201);
  assert.equal((await as(bob, 'add', dave)).status, 201, 'an admin adds');
  assertError(await as(bob, 'remove', alice), 400, 'POMBO_ERR_VALIDATION', /owner .* cannot be removed or demoted/);
  assertError(await as(bob, 'demote', alice), 400, 'POMBO_ERR_VALIDATION', /owner .* cannot be removed or demoted/);
  const [listed] = (await pombo.api('GET', `/group/fetchAllGroups/${alice.name}?getParticipants=true`)).body as Array<{ participants: Array<{ id: string; admin: string | null }> }>;
  assert.deepEqual(
    Object.fromEntries((listed?.participants ?? []).map((p) => [p.id, p.admin])),
    { [alice.jid]: 'superadmin', [bob.jid]: 'admin', [carol.jid]: null, [dave.jid]: null },
  );
  assert.equal((await as(alice, 'demote', bob)).status, 201);
  assertError(await as(bob, 'remove', dave), 403, 'POMBO_ERR_NOT_GROUP_ADMIN', /is not an admin/);
  assert.deepEqual((await pombo.api('GET', `/group/fetchAllGroups/${bob.name}?getParticipants=true`)).body[0].participants.length, 4, 'nothing removed');
});

test('a text to a group reaches every other member as MESSAGES_UPSERT with the sender as participant', async () => {
  const [alice, bob, carol, dave] = await Promise.all([member('alice'), member('bob'), member('carol'), member('dave')]);
  const group = (await pombo.api('POST', `/group/create/${alice.name}`, { subject: 'Time', participants: [bob.number, carol.number] })).body;
  await pombo.api('DELETE', `/instance/logout/${carol.name}`);

  const sent = await pombo.api('POST', `/message/sendText/${bob.name}`, { number: group.id, text: 'bom dia, grupo' });
  assert.equal(sent.status, 201, JSON.stringify(sent.body));
  assert.deepEqual(sent.body.key, { remoteJid: group.id, fromMe: true, id: sent.body.key.id });
  const id = sent.body.key.id;

  const [upsert, ...rest] = await since(alice.name, 4);
  assert.equal(rest.length, 0);
  assert.equal(upsert.event, 'messages.upsert');
  assert.deepEqual(upsert.data.key, { remoteJid: group.id, fromMe: false, id, participant: bob.jid });
  assert.deepEqual(upsert.data.message, { conversation: 'bom dia, grupo' });
  assert.equal(upsert.data.pushName, bob.name);
  assert.deepEqual((await since(bob.name, 4)).map((e) => [e.event, e.data.status]), [['send.message', 'PENDING'], ['messages.update', 'DELIVERY_ACK']]);
  assert.deepEqual((await since(carol.name, 4)).map((e) => e.event), ['status.instance', 'logout.instance', 'connection.update'], 'a disconnected member gets nothing');
  assert.deepEqual(await since(dave.name), [], 'a non-member gets nothing');

  assertError(await pombo.api('POST', `/message/sendText/${dave.name}`, { number: group.id, text: 'let me in' }), 400, 'POMBO_ERR_VALIDATION', /is not a group/);
  await pombo.api('POST', `/group/updateParticipant/${alice.name}?groupJid=${encodeURIComponent(group.id)}`, { action: 'add', participants: [dave.number] });
  await pombo.api('POST', `/message/sendText/${alice.name}`, { number: group.id, text: 'welcome' });
  const daveSees = (await since(dave.name)).map((e) => e.event);
  assert.deepEqual(daveSees, ['groups.upsert', 'group-participants.update', 'messages.upsert'], 'a member added later gets the group and its messages');
});
