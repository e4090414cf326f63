import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaSendQueue, NotSentBehindFailure } from '../../src/channels/kafka/kafka-send-queue.ts';
import type { KafkaRecord } from '../../src/channels/kafka/kafka-records.ts';

/** A producer that answers each request when the test says so, and records what was in flight. */
function scriptedProducer() {
  const requests: { values: string[]; answer(error?: Error): void }[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  return {
    requests,
    mostInFlight: () => mostInFlight,
    send({ messages }: { messages: KafkaRecord[] }) {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      return new Promise<never>((resolve, reject) => {
        requests.push({
          values: messages.map((message) => String(message.value)),
          answer: (error) => {
            inFlight--;
            if (error) reject(error);
            else resolve({} as never);
          },
        });
      });
    },
  };
}

const records = (...values: string[]): KafkaRecord[] => values.map((value) => ({ topic: 't', value: Buffer.from(value) }));
const tick = () => new Promise((resolve) => setImmediate(resolve));

test('one request at a time; what waits meanwhile goes in the next request, one destination per request, within the limits', async () => {
  const producer = scriptedProducer();
  const queue = new KafkaSendQueue(producer, { maxBytes: 100, maxMessages: 3 });
  const done: string[] = [];
  const send = (values: string[], group: string) => queue.send(records(...values), values.length * 10, group).then(() => done.push(values.join()));
  const all = [send(['a1'], 'A'), send(['a2'], 'A'), send(['b1'], 'B'), send(['a3', 'a4'], 'A'), send(['a5'], 'A')];
  await tick();
  assert.deepEqual(producer.requests.map((request) => request.values), [['a1']]);
  producer.requests[0]?.answer();
  await tick();
  // A's sends join up to three messages (b1, another destination's, waits for its own request); a5 would make four.
  assert.deepEqual(producer.requests[1]?.values, ['a2', 'a3', 'a4']);
  producer.requests[1]?.answer();
  await tick();
  assert.deepEqual(producer.requests[2]?.values, ['b1']);
  producer.requests[2]?.answer();
  await tick();
  assert.deepEqual(producer.requests[3]?.values, ['a5']);
  producer.requests[3]?.answer();
  await Promise.all(all);
  assert.deepEqual(done, ['a1', 'a2', 'a3,a4', 'b1', 'a5']);
  assert.equal(producer.mostInFlight(), 1);
});

test('a failed request fails its sends, and none queued behind it is made', async () => {
  const producer = scriptedProducer();
  const queue = new KafkaSendQueue(producer, { maxBytes: 100, maxMessages: 1 });
  const first = queue.send(records('1'), 10, 'A');
  const second = queue.send(records('2'), 10, 'A');
  const other = queue.send(records('x'), 10, 'B');
  await tick();
  producer.requests[0]?.answer(new Error('Request timed out'));
  await assert.rejects(first, /Request timed out/);
  await assert.rejects(second, (error) => error instanceof NotSentBehindFailure && (error.failure as Error).message === 'Request timed out');
  await assert.rejects(other, NotSentBehindFailure);
  assert.equal(producer.requests.length, 1, 'nothing else was sent');

  const later = queue.send(records('3'), 10, 'A');
  await tick();
  assert.deepEqual(producer.requests[1]?.values, ['3'], 'the queue takes new sends after the failure');
  producer.requests[1]?.answer();
  await later;
});
