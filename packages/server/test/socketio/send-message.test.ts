import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../helpers/pombo-harness.ts';
import { namespaceUrl, pomboForFile } from './socket-helpers.ts';

const shared = pomboForFile();

test('send_message sends through the sandbox and acks {ok: true, message}; the recipient\'s namespace gets messages.upsert', async () => {
  const { pombo, clients } = shared;
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const { token } = await pombo.sandbox(alice);
  await pombo.sandbox(bob, { number: '5511987654321', websocket: { enabled: true, events: ['MESSAGES_UPSERT'] } });
  const sender = await clients.connect(namespaceUrl(pombo, alice), { auth: { apikey: token } });
  const recipient = await clients.connect(namespaceUrl(pombo, bob), { auth: { apikey: pombo.apiKey } });

  const ack = await sender.timeout(5000).emitWithAck('send_message', { number: '5511987654321', text: 'via socket' });
  assert.equal(ack.ok, true);
  assert.equal(ack.message.key.fromMe, true);
  assert.equal(ack.message.key.remoteJid, '5511987654321@s.whatsapp.net');
  assert.equal(ack.message.message.conversation, 'via socket');

  const upsert = await clients.waitFor(recipient, 'messages.upsert in /bob', (item) => item.name === 'messages.upsert');
  assert.equal(upsert.payload.data.key.id, ack.message.key.id);
  assert.equal(upsert.payload.data.message.conversation, 'via socket');
});

test('send_message answers errors through the ack with their code and message', async () => {
  const { pombo, clients } = shared;
  const idle = uniqueName('idle');
  const created = await pombo.api('POST', '/instance/create', { instanceName: idle });
  const socket = await clients.connect(namespaceUrl(pombo, idle), { auth: { apikey: created.body.hash } });

  const notConnected = await socket.timeout(5000).emitWithAck('send_message', { number: '5511987654321', text: 'hello' });
  assert.deepEqual(notConnected, {
    ok: false,
    error: {
      code: 'POMBO_ERR_INSTANCE_NOT_CONNECTED',
      message: `The "${idle}" instance is not connected: call GET /instance/connect/${idle} first`,
    },
  });

  await pombo.api('GET', `/instance/connect/${idle}`);
  const noText = await socket.timeout(5000).emitWithAck('send_message', { number: '5511987654321' });
  assert.deepEqual(noText, { ok: false, error: { code: 'POMBO_ERR_VALIDATION', message: 'send_message.text is required and must be a non-empty string' } });
  // Seed 002's example payload: no number.
  const seedPayload = await socket.timeout(5000).emitWithAck('send_message', { message: 'Olá, Mundo!' });
  assert.equal(seedPayload.error.code, 'POMBO_ERR_VALIDATION');
  assert.match(seedPayload.error.message, /send_message\.number/);
  // The same limits as POST /message/sendText: a phone number or JID, a text of at most 65,536 characters.
  const badNumber = await socket.timeout(5000).emitWithAck('send_message', { number: 'not a number', text: 'hi' });
  assert.match(badNumber.error.message, /send_message\.number must be a phone number/);
  const long = await socket.timeout(5000).emitWithAck('send_message', { number: '5511987654321', text: 'x'.repeat(65_537) });
  assert.match(long.error.message, /send_message\.text has 65537 characters; at most 65536/);

  const root = await clients.connect(pombo.url, { auth: { apikey: pombo.apiKey } });
  const onRoot = await root.timeout(5000).emitWithAck('send_message', { number: '5511987654321', text: 'hello' });
  assert.equal(onRoot.error.code, 'POMBO_ERR_VALIDATION');
  assert.match(onRoot.error.message, /instance's namespace/);
});
