import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withFields } from '../../src/core/envelope.ts';
import { withTimestamp } from '../../src/channels/kafka/kafka-records.ts';

test("the Kafka value is the envelope's text with its timestamp, byte for byte, whatever its characters", () => {
  const envelopes = [
    '{"id":"evt_1","data":{"text":"plain"}}',
    '{"id":"evt_2","data":{"text":"Olá, ação, 日本語, 👍🏽"}}',
    `{"id":"evt_3","data":{"text":"${'é'.repeat(3000)}🙂"}}`,
    '{"id":"evt_4","data":"\\u2028 and \\"quotes\\""}',
  ];
  for (const envelope of envelopes) {
    const value = withTimestamp(envelope, 1_735_689_600_123);
    assert.equal(value.toString(), withFields(envelope, { timestamp: 1_735_689_600_123 }));
    assert.equal(JSON.parse(value.toString()).timestamp, 1_735_689_600_123);
  }
});
