import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckWindow } from '../../src/channels/realtime/ack-window.ts';
import type { StoredEvent } from '../../src/store/types.ts';

const event = (pos: number) => ({ id: `evt_${pos}`, pos }) as StoredEvent;

test('retrying counts the unacknowledged events that failed at least once: sent again, carried from an earlier window, or waiting for a connection', () => {
  const window = new AckWindow<string>();
  window.add(event(1), 'a', 10);
  window.add(event(2), 'a', 10);
  window.add(event(3), 'a', 10, 2);
  assert.equal(window.retrying, 1, 'sent by an earlier window');
  window.resend(window.find('evt_1'), 'a', 20);
  window.resend(window.find('evt_2'), null, 0);
  assert.equal(window.retrying, 3);
  window.resend(window.find('evt_2'), 'b', 20);
  assert.equal(window.retrying, 3, 'a resend of a retrying event counts once');
  window.remove(window.find('evt_1'));
  window.forEach((slot) => window.remove(slot));
  assert.deepEqual([window.size, window.retrying], [0, 0]);
});

test('oldestPos is the oldest unacknowledged event whether the events came in log order or not (a rewind)', () => {
  const window = new AckWindow<string>();
  for (const pos of [5, 6, 7]) window.add(event(pos), 'a', 10);
  window.remove(window.find('evt_6'));
  assert.equal(window.oldestPos(), 5);
  window.remove(window.find('evt_5'));
  assert.equal(window.oldestPos(), 7);
  window.add(event(3), 'a', 10);
  assert.equal(window.oldestPos(), 3, 'added after a newer one');
  window.remove(window.find('evt_3'));
  assert.equal(window.oldestPos(), 7);
  window.remove(window.find('evt_7'));
  assert.equal(window.oldestPos(), Number.POSITIVE_INFINITY);
  window.add(event(9), 'a', 10);
  window.add(event(10), 'a', 10);
  assert.equal(window.oldestPos(), 9, 'in order again once the window was empty');
});
