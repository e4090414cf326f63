import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName } from '../helpers/pombo-harness.ts';
import { logOf } from './http-assert.ts';

test('a sandbox group created before a restart still carries messages and takes members after it, from its owner and the admins it promoted', async () => {
  const first = await startPombo();
  const [alice, bob, carol] = [uniqueName('alice'), uniqueName('bob'), uniqueName('carol')];
  const numbers = { bob: '5511977770001', carol: '5511977770002' };
  await first.sandbox(alice);
  await first.sandbox(bob, { number: numbers.bob });
  await first.sandbox(carol, { number: numbers.carol });
  const group = (await first.api('POST', `/group/create/${alice}`, { subject: 'Antes', participants: [numbers.bob] })).body;
  const promoted = await first.api('POST', `/group/updateParticipant/${alice}?groupJid=${encodeURIComponent(group.id)}`, { action: 'promote', participants: [numbers.bob] });
  assert.equal(promoted.status, 201, JSON.stringify(promoted.body));
  await first.close({ keepData: true });

  const second = await startPombo({ AUTHENTICATION_API_KEY: first.apiKey }, first.dataDir);
  try {
    const sent = await second.api('POST', `/message/sendText/${bob}`, { number: group.id, text: 'ainda aqui' });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const onAlice = (await logOf(second, alice)).at(-1);
    assert.equal(onAlice.event, 'messages.upsert');
    assert.deepEqual(onAlice.data.key, { remoteJid: group.id, fromMe: false, id: sent.body.key.id, participant: `${numbers.bob}@s.whatsapp.net` });

    const added = await second.api('POST', `/group/updateParticipant/${bob}?groupJid=${encodeURIComponent(group.id)}`, { action: 'add', participants: [numbers.carol] });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.deepEqual((await logOf(second, carol)).slice(-2).map((e) => e.event), ['groups.upsert', 'group-participants.update']);
    assert.equal((await second.api('POST', `/message/sendText/${carol}`, { number: group.id, text: 'cheguei' })).status, 201);
    const byCarol = await second.api('POST', `/group/updateParticipant/${carol}?groupJid=${encodeURIComponent(group.id)}`, { action: 'remove', participants: [numbers.bob] });
    assert.equal(byCarol.status, 403, 'a member who is not an admin changes nothing');
  } finally {
    await second.close();
  }
});
