import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName, eventually } from '../../server/test/helpers/pombo-harness.ts';
import { startReceiver } from '../../server/test/webhook/http-receiver.ts';
import { PomboApiError, PomboClient } from '../src/index.ts';

test('instance helpers create, list, connect, report, log out and delete; errors carry status and code', async () => {
  const pombo = await startPombo();
  try {
    const client = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey });
    const name = uniqueName('sdk');
    const created = await client.instances.create({ instanceName: name, integration: 'SANDBOX' });
    assert.equal(created.instance.instanceName, name);
    assert.equal((await client.instances.fetch({ instanceName: name }))[0]?.id, created.instance.instanceId);
    assert.ok((await client.instances.connect(name)).code);
    assert.equal((await client.instances.connectionState(name)).instance.state, 'open');
    const scoped = new PomboClient({ baseUrl: pombo.url, apiKey: created.hash });
    assert.deepEqual((await scoped.instances.fetch()).map((instance) => instance.name), [name], 'an instance token sees only its instance');
    const other = uniqueName('other');
    await client.instances.create({ instanceName: other });
    await assert.rejects(scoped.instances.connectionState(other), (error: unknown) => error instanceof PomboApiError && error.status === 403 && error.code === 'POMBO_ERR_FORBIDDEN');
    await client.instances.logout(name);
    assert.equal((await client.instances.connectionState(name)).instance.state, 'close');
    await client.instances.delete(name);
    await assert.rejects(client.instances.connectionState(name), (error: unknown) => error instanceof PomboApiError && error.status === 404);
  } finally {
    await pombo.close();
  }
});

test('client.webhook.set configures a signed webhook, and client.webhooks.verify accepts what Pombo sends', async () => {
  const pombo = await startPombo();
  const receiver = await startReceiver();
  try {
    const client = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey });
    const name = uniqueName('signed');
    const secret = `whsec_${Buffer.from('a secret for the sdk test, 32 by').toString('base64')}`;
    await client.instances.create({ instanceName: name });
    assert.equal(await client.webhook.find(name), null, 'never set');
    await client.webhook.set(name, { enabled: true, url: receiver.url, events: ['MESSAGES_UPSERT'], secret });
    assert.equal((await client.webhook.find(name))?.enabled, true);
    const [published] = (await client.events.publish(name, [{ event: 'messages.upsert', data: { n: 1 } }])).events;
    await eventually(() => receiver.accepted().length > 0, 'the webhook request');
    const [request] = receiver.accepted();
    const payload = (await client.webhooks.verify(request!.body, request!.headers as Record<string, string>, secret)) as { id: string };
    assert.equal(payload.id, published!.id);
    await assert.rejects(client.webhooks.verify(request!.body.replace('"n":1', '"n":2'), request!.headers as Record<string, string>, secret));
  } finally {
    await receiver.close();
    await pombo.close();
  }
});

test('chat, group, settings and restart helpers answer in Evolution API’s shapes', async () => {
  const pombo = await startPombo();
  try {
    const client = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey });
    const [alice, bob] = [uniqueName('alice'), uniqueName('bob')];
    await client.instances.create({ instanceName: alice, qrcode: true });
    await client.instances.create({ instanceName: bob, number: '5511966660001', qrcode: true });
    await client.messages.sendText(alice, { number: '5511966660001', text: 'oi' });
    const { messages } = await client.chats.findMessages(bob, { where: { key: { fromMe: false } } });
    assert.equal(messages.total, 1);
    assert.deepEqual(messages.records[0]?.message, { conversation: 'oi' });
    const [chat] = await client.chats.findChats(bob);
    assert.equal(chat?.unreadCount, 1);
    await pombo.api('POST', `/group/create/${alice}`, { subject: 'SDK', participants: ['5511966660001'] });
    const [group] = await client.chats.fetchAllGroups(bob, { getParticipants: true });
    assert.equal(group?.subject, 'SDK');
    assert.equal(group?.participants?.length, 2);
    assert.equal((await client.settings.set(bob, { rejectCall: true })).settings.settings.rejectCall, true);
    assert.equal((await client.settings.find(bob)).rejectCall, true);
    assert.deepEqual(await client.instances.restart(bob), { instance: { instanceName: bob, state: 'open' } });
  } finally {
    await pombo.close();
  }
});
