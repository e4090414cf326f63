import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageBatchCommand, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { requireService, startPombo, uniqueName } from '../helpers/pombo-harness.ts';
import { callOutcomes } from '../../src/channels/sqs/sqs-call-outcomes.ts';
import { receiveUntil, sqs, sqsAvailable, sqsEnv } from './sqs-queue-reader.ts';

const needsSqs = requireService(await sqsAvailable(), 'An SQS-compatible server on 127.0.0.1:9324', 'run scripts/services/sqs.sh');

const entry = (id: string, group: string, deduplicationId = id): SendMessageBatchRequestEntry => ({
  Id: id,
  MessageBody: JSON.stringify({ id }),
  MessageGroupId: group,
  MessageDeduplicationId: deduplicationId,
});

/** Sends one SendMessageBatch and answers each entry's outcome kind, as the SQS channel reports it. */
async function sendBatch(queueUrl: string, queue: string, entries: SendMessageBatchRequestEntry[]) {
  const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
  const kinds = Object.fromEntries([...callOutcomes(queue, entries, result)].map(([id, outcome]) => [id, outcome.kind]));
  return { refused: (result.Failed ?? []).map((failure) => failure.Id), kinds };
}

test('SQS refuses one message of a FIFO batch and takes later ones of its group: those count as not delivered, and sending them again delivers none twice', needsSqs, async () => {
  const queue = `${uniqueName('partial')}.fifo`;
  const { QueueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: queue, Attributes: { FifoQueue: 'true' } }));
  // The server refuses a deduplication id with a space, for that entry only: a partial failure.
  const first = await sendBatch(QueueUrl, queue, [
    entry('a1', 'chat-a'),
    entry('b1', 'chat-b'),
    entry('a2', 'chat-a', 'a2 refused'),
    entry('b2', 'chat-b'),
    entry('a3', 'chat-a'),
    entry('a4', 'chat-a'),
  ]);
  assert.deepEqual(first.refused, ['a2'], 'the server refused a2 alone and took the rest');
  assert.deepEqual(first.kinds, { a1: 'delivered', b1: 'delivered', a2: 'retry', b2: 'delivered', a3: 'retry', a4: 'retry' });

  // The dispatcher sends the rest of the group again, a2 first; this time the server takes it.
  const again = await sendBatch(QueueUrl, queue, [entry('a2', 'chat-a'), entry('a3', 'chat-a'), entry('a4', 'chat-a')]);
  assert.deepEqual(again.kinds, { a2: 'delivered', a3: 'delivered', a4: 'delivered' });
  const received = await receiveUntil(queue, (all) => all.length >= 6);
  const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
  assert.equal(Attributes.ApproximateNumberOfMessages, '0', 'nothing left in the queue');
  const ids = received.map((r) => r.body.id);
  assert.deepEqual([...ids].sort(), ['a1', 'a2', 'a3', 'a4', 'b1', 'b2'], 'every message once: the copies of a3 and a4 were dropped');
});

test('a chat id SQS refuses as a FIFO message group (spaces, accents, over 128 characters) still arrives, in order, in a group of its own', needsSqs, async () => {
  const pombo = await startPombo(sqsEnv());
  try {
    const name = uniqueName('ingest');
    const sqsConfig = { enabled: true, fifo: true, ordering: 'chat', events: ['MESSAGES_UPSERT'] };
    const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', sqs: sqsConfig });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const long = 'x'.repeat(130);
    const chats = ['José da Silva', 'ok-chat@s.whatsapp.net', `${long}-one`, `${long}-two`];
    const events = Array.from({ length: 24 }, (_, n) => {
      const chat = chats[n % chats.length];
      return { event: 'MESSAGES_UPSERT', data: { key: { remoteJid: chat, id: `M${n}` }, message: { conversation: `n=${n}` }, n } };
    });
    assert.equal((await pombo.api('POST', `/events/${name}`, { events })).status, 201);

    const received = await receiveUntil(`evolution-${name}-messages-upsert.fifo`, (all) => new Set(all.map((r) => r.body.id)).size >= 24);
    const groups = new Set<string>();
    for (const chat of chats) {
      const ofChat = received.filter((r) => r.body.data.key.remoteJid === chat);
      const numbers = ofChat.map((r) => r.body.data.n);
      assert.equal(numbers.length, 6, `all of ${chat.slice(0, 20)}…`);
      assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), `${chat.slice(0, 20)}… in order`);
      const chatGroups = new Set(ofChat.map((r) => r.message.Attributes?.MessageGroupId ?? ''));
      assert.equal(chatGroups.size, 1, 'one group per chat');
      for (const group of chatGroups) {
        assert.match(group, /^[\x21-\x7e]{1,128}$/);
        groups.add(group);
      }
    }
    assert.equal(groups.size, chats.length, 'no two chats share a group');
    assert.ok(groups.has(`${name}/ok-chat@s.whatsapp.net`), 'a valid chat keeps its readable group');
  } finally {
    await pombo.close();
  }
});
