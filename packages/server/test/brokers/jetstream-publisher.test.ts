import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { JetStreamPublisher, NO_STREAM } from '../../src/channels/nats/jetstream-publisher.ts';
import { deleteStreams, natsNames, natsRequired, NATS_URI } from './nats-helpers.ts';

const nats = await natsRequired();

/**
 * Pombo publishes to JetStream without the client's `js.publish()` (bench/brokers.ts: the client's
 * request per message reached 40 % of plain publishes with a reply subject, and Pombo's drain was
 * above what `js.publish()` allows), so it relies on JetStream's publish protocol itself. These pin
 * that protocol, as the server and @nats-io/transport-node speak it: a PubAck in JSON on the reply
 * subject, `Nats-Msg-Id` deduplication, and a 503 status with no data when no stream stores the subject.
 */
test('JetStream answers plain publishes with a reply subject as Pombo reads them: PubAcks, deduplication, no stream', nats, async () => {
  const names = natsNames();
  const nc = await connect({ servers: NATS_URI });
  const publisher = new JetStreamPublisher(nc);
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: names.stream, subjects: [`${names.prefix}.>`] });
    const message = (n: number, subject = `${names.prefix}.events`, headers: Record<string, string> = {}) => ({ subject, body: JSON.stringify({ n }), headers, msgId: `${names.prefix}-${n}` });

    const first = await publisher.publish([1, 2, 3].map((n) => message(n)), 5000);
    assert.deepEqual(first.map((outcome) => outcome.kind), ['delivered', 'delivered', 'delivered'], 'each PubAck names the stream');

    const again = await publisher.publish([message(2), message(4)], 5000);
    assert.deepEqual(again.map((outcome) => outcome.kind), ['delivered', 'delivered'], 'a duplicate is acknowledged too');
    assert.equal((await jsm.streams.info(names.stream)).state.messages, 4, 'the stream dropped the second Nats-Msg-Id 2');

    const [orphan] = await publisher.publish([message(5, `${names.prefix}x.nowhere`)], 5000);
    assert.equal(orphan?.kind, 'retry');
    assert.equal(orphan.error, NO_STREAM, 'no stream: a 503 with no data, not a timeout');

    // Batches in flight at once: each answer lands on its own batch and index.
    const [mixed, single] = await Promise.all([
      publisher.publish([message(6), message(7, `${names.prefix}x.nowhere`), message(8, undefined, { 'Nats-Expected-Stream': 'ANOTHER' }), message(9)], 5000),
      publisher.publish([message(10)], 5000),
    ]);
    assert.deepEqual(mixed?.map((outcome) => outcome.kind), ['delivered', 'retry', 'retry', 'delivered']);
    assert.equal(mixed?.[1]?.kind === 'retry' && mixed[1].error, NO_STREAM);
    assert.match(mixed?.[2]?.kind === 'retry' ? mixed[2].error : '', /JetStream refused the message: expected stream does not match/, 'an API error in a PubAck is read as one');
    assert.deepEqual(single?.map((outcome) => outcome.kind), ['delivered']);
    assert.equal((await jsm.streams.info(names.stream)).state.messages, 7, 'messages 6, 9 and 10 stored, 8 refused');
  } finally {
    publisher.close();
    await nc.close();
    await deleteStreams(names.stream);
  }
});
