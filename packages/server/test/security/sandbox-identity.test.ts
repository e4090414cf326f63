import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { assertError, logOf } from '../core/http-assert.ts';

let pombo: Harness;
before(async () => {
  pombo = await startPombo();
});
after(() => pombo.close());

const VICTIM_NUMBER = '5511977770001';
const VICTIM_JID = `${VICTIM_NUMBER}@s.whatsapp.net`;

const messagesTo = async (name: string) => (await logOf(pombo, name)).filter((event) => event.event === 'messages.upsert');

test('an ingested sender cannot take over another instance’s number, from a sandbox or an ingest instance', async () => {
  const victim = uniqueName('victim');
  const friend = uniqueName('friend');
  const sandboxAttacker = uniqueName('attack-s');
  const ingestAttacker = uniqueName('attack-i');
  await pombo.sandbox(victim, { number: VICTIM_NUMBER });
  const friendToken = (await pombo.sandbox(friend)).token;
  const sandboxToken = (await pombo.sandbox(sandboxAttacker)).token;
  const ingestToken = (await pombo.api('POST', '/instance/create', { instanceName: ingestAttacker, integration: 'INGEST' })).body.hash;

  const claim = (name: string, token: string, extra: Record<string, unknown> = {}) =>
    pombo.api('POST', `/events/${name}`, { event: 'messages.upsert', instance: name, sender: VICTIM_JID, data: { key: { id: 'X' } }, ...extra }, token);
  assertError(await claim(sandboxAttacker, sandboxToken), 400, 'POMBO_ERR_VALIDATION', /the sandbox gives .* its number; ingested events cannot change it|sandbox gives/);
  assertError(await claim(ingestAttacker, ingestToken), 400, 'POMBO_ERR_VALIDATION', /is the number of another instance/);
  // A batch cannot slip a second sender in behind an innocent first one.
  const batch = { events: [{ event: 'CALL', data: {}, sender: '5511900000009@s.whatsapp.net' }, { event: 'CALL', data: {}, sender: VICTIM_JID }] };
  assertError(await pombo.api('POST', `/events/${ingestAttacker}`, batch, ingestToken), 400, 'POMBO_ERR_VALIDATION', /different senders/);
  // A sandbox instance's connection is the sandbox's: an ingested CONNECTION_UPDATE cannot move it.
  assertError(
    await pombo.api('POST', `/events/${sandboxAttacker}`, { event: 'CONNECTION_UPDATE', data: { state: 'close' } }, sandboxToken),
    400,
    'POMBO_ERR_VALIDATION',
    /sandbox reports its connection/,
  );
  assert.equal((await pombo.api('GET', `/instance/connectionState/${sandboxAttacker}`)).body.instance.state, 'open');
  // Nor its groups: a group is restored from its members' logs after a restart, so an ingested promote
  // would make a member an admin of another tenant's group.
  for (const event of ['GROUP_PARTICIPANTS_UPDATE', 'groups.upsert', 'GROUPS_UPDATE']) {
    const forged = { event, data: { id: '120363000000000001@g.us', participants: [VICTIM_JID], action: 'promote' } };
    assertError(await pombo.api('POST', `/events/${sandboxAttacker}`, forged, sandboxToken), 400, 'POMBO_ERR_VALIDATION', /sandbox reports its groups/);
  }

  // The victim's messages still reach the victim, and only the victim.
  const sent = await pombo.api('POST', `/message/sendText/${friend}`, { number: VICTIM_NUMBER, text: 'for the victim' }, friendToken);
  assert.equal(sent.status, 201);
  assert.equal((await messagesTo(victim)).length, 1);
  assert.equal((await messagesTo(sandboxAttacker)).length, 0);
  assert.equal((await messagesTo(ingestAttacker)).length, 0);
  const owners = (await pombo.api('GET', '/instance/fetchInstances')).body.filter((instance: { ownerJid: string }) => instance.ownerJid === VICTIM_JID);
  assert.deepEqual(owners.map((instance: { name: string }) => instance.name), [victim]);
});

test('an ingest instance’s own sender is kept; a sender that is not a JID is a 400', async () => {
  const name = uniqueName('own');
  const token = (await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).body.hash;
  const own = '5511966660002@s.whatsapp.net';
  assert.equal((await pombo.api('POST', `/events/${name}`, { event: 'CALL', data: {}, sender: own, instance: name }, token)).status, 201);
  const found = (await pombo.api('GET', `/instance/fetchInstances?instanceName=${name}`)).body[0];
  assert.equal(found.ownerJid, own);
  assertError(await pombo.api('POST', `/events/${name}`, { event: 'CALL', data: {}, sender: 'x'.repeat(5000) }, token), 400, 'POMBO_ERR_VALIDATION', /sender must be a JID/);
  // Now that the number is this instance's, no sandbox instance can be created with it.
  assertError(await pombo.api('POST', '/instance/create', { instanceName: uniqueName('dup'), number: '5511966660002' }), 400, 'POMBO_ERR_VALIDATION', /already another instance's/);
});

test('two sandbox instances cannot share a number', async () => {
  const first = uniqueName('num-a');
  await pombo.sandbox(first, { number: '5511955550003' });
  const second = uniqueName('num-b');
  assertError(await pombo.api('POST', '/instance/create', { instanceName: second, number: '5511955550003', qrcode: true }), 400, 'POMBO_ERR_VALIDATION', /already another instance's/);
  assert.equal((await pombo.api('GET', `/instance/connectionState/${second}`)).status, 404, 'nothing was created');
});
