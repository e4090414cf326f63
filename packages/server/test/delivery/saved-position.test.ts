import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Dispatcher } from '../../src/delivery/dispatcher.ts';
import type { DestinationSpec } from '../../src/delivery/destination.ts';
import { delivered, retry } from '../../src/delivery/outcome.ts';
import { backoff } from '../../src/delivery/retry-policy.ts';
import { SettledPositions } from '../../src/delivery/settled-positions.ts';
import { createMetrics } from '../../src/ops/metrics.ts';
import type { Store } from '../../src/store/types.ts';
import { eventually } from '../helpers/pombo-harness.ts';
import { capturedLog, instance, silent, spec, withStore } from './dispatcher-fixtures.ts';

/**
 * The position a destination saves is the highest one up to which everything it read is settled
 * (delivered, given up, or durably pending): never past an event still in flight or retried in memory,
 * whatever order events complete in and whichever lane (chat) they travel in.
 */

test('the settled position follows the lowest unsettled one, whatever order positions settle in', () => {
  const positions = new SettledPositions();
  assert.equal(positions.through(7), 7, 'nothing open: everything read is settled');
  for (const pos of [1, 2, 3, 4, 5]) positions.add(pos);
  assert.equal(positions.through(5), 0);
  positions.settle(3);
  positions.settle(5);
  assert.equal(positions.through(5), 0, 'later completions do not move it');
  positions.settle(1);
  assert.equal(positions.through(5), 1);
  positions.settle(2);
  assert.equal(positions.through(5), 3, 'it jumps over what settled earlier');
  positions.settle(99);
  assert.equal(positions.through(5), 3, 'an unknown position changes nothing');
  positions.settle(4);
  assert.equal(positions.through(5), 5);
  assert.equal(positions.through(4), 4, 'never beyond what was read');
});

test('positions opened out of order and thousands of them still give the lowest open one', () => {
  const positions = new SettledPositions();
  positions.add(10);
  positions.add(7);
  positions.add(12);
  assert.equal(positions.through(12), 6);
  positions.settle(7);
  assert.equal(positions.through(12), 9);
  positions.settle(10);
  positions.settle(12);
  for (let pos = 13; pos <= 5000; pos++) positions.add(pos);
  for (let pos = 13; pos <= 5000; pos += 2) positions.settle(pos);
  assert.equal(positions.through(5000), 13);
  for (let pos = 14; pos < 4000; pos += 2) positions.settle(pos);
  assert.equal(positions.through(5000), 3999, 'up to the lowest position left open');
  for (let pos = 4000; pos <= 5000; pos += 2) positions.settle(pos);
  assert.equal(positions.through(5000), 5000);
});

const chat = (jid: string, n: number) => ({ key: { remoteJid: jid, fromMe: false, id: `${jid}${n}` }, n });

/** A send that holds one event (by `n`) until released, and delivers the others at once. */
function holding(heldN: number): { send: DestinationSpec['send']; release(): void; delivered: number[] } {
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const deliveredNs: number[] = [];
  return {
    delivered: deliveredNs,
    release: () => release(),
    send: async (batch) => {
      const outcomes = [];
      for (const { event } of batch) {
        const n = (event.data as { n: number }).n;
        if (n === heldN) await gate;
        deliveredNs.push(n);
        outcomes.push(delivered());
      }
      return outcomes;
    },
  };
}

/** The saved cursor once every save in progress is written. */
async function savedCursor(store: Store, id: string): Promise<number | undefined> {
  await sleep(50);
  return store.getCursor(id);
}

test('per-chat lanes: later chats completing first never carry the saved position past an event in flight', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    const held = holding(100);
    dispatcher.upsert(spec({ id: 'dest', ordering: 'chat', record: 'failures', send: held.send }));
    await store.append([1, 2, 3].map((n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: chat('y', n) })));
    await eventually(() => held.delivered.length === 3, 'the first three');
    const [x] = await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: chat('x', 100) }]);
    const later = Array.from({ length: 20 }, (_, n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: chat(n % 2 ? 'y' : 'z', 200 + n) }));
    await store.append(later);
    await eventually(() => held.delivered.length === 23, 'the other chats, past the held one');
    const xPos = x!.event.pos;
    assert.equal(await savedCursor(store, 'dest'), xPos - 1, 'the saved position stops before the event in flight');
    assert.equal(dispatcher.status('dest')?.cursor, xPos - 1);
    assert.equal(dispatcher.status('dest')?.activity.kind, 'delivering');
    held.release();
    await eventually(async () => (await store.getCursor('dest')) === (await store.headPosition()), 'the saved position at the head');
    await dispatcher.whenIdle('dest');
    assert.deepEqual(dispatcher.status('dest')?.activity, { kind: 'idle' });
    await dispatcher.stop();
  });
});

test('a retry kept only in memory holds the saved position; one recorded as pending lets it pass', async () => {
  for (const record of ['failures', 'all'] as const) {
    await withStore(async (store) => {
      const id = await instance(store, 'a');
      const dispatcher = new Dispatcher(store, silent, createMetrics());
      await dispatcher.start();
      let failing = true;
      const got: number[] = [];
      dispatcher.upsert(
        spec({
          id: 'dest',
          record,
          retry: backoff({ maxAttempts: 1000, initialDelayMs: 30, maxDelayMs: 30, exponential: false, jitterFactor: 0 }),
          send: async (batch) =>
            batch.map(({ event }) => {
              const n = (event.data as { n: number }).n;
              if (n === 2 && failing) return retry('down');
              got.push(n);
              return delivered();
            }),
        }),
      );
      const results = await store.append(Array.from({ length: 6 }, (_, n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: { n } })));
      await eventually(() => got.length === 5, `${record}: every event but the failing one`);
      const activity = await eventually(() => {
        const current = dispatcher.status('dest')?.activity;
        return current?.kind === 'waiting-retry' ? current : undefined;
      }, `${record}: the retry to wait`);
      assert.equal(activity.retrying, 1);
      const head = await store.headPosition();
      const failingPos = results[2]!.event.pos;
      assert.equal(await savedCursor(store, 'dest'), record === 'all' ? head : failingPos - 1, `${record}: the saved position`);
      failing = false;
      await eventually(() => got.length === 6, `${record}: the retried event`);
      await eventually(async () => (await store.getCursor('dest')) === head, `${record}: the saved position at the head`);
      await dispatcher.stop();
    });
  }
});

test('a replay that keeps failing never holds the saved position of new events', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    const got: number[] = [];
    let replaying = false;
    dispatcher.upsert(
      spec({
        id: 'dest',
        record: 'failures',
        retry: backoff({ maxAttempts: 1000, initialDelayMs: 30, maxDelayMs: 30, exponential: false, jitterFactor: 0 }),
        send: async (batch) =>
          batch.map(({ event }) => {
            const n = (event.data as { n: number }).n;
            if (n === 0 && replaying) return retry('down');
            got.push(n);
            return delivered();
          }),
      }),
    );
    const [first] = await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: { n: 0 } }]);
    await eventually(() => got.length === 1, 'the first delivery');
    replaying = true;
    await dispatcher.replay('dest', [first!.event]);
    await store.append(Array.from({ length: 5 }, (_, n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: { n: n + 1 } })));
    await eventually(() => got.length === 6, 'the new events');
    assert.equal(await savedCursor(store, 'dest'), await store.headPosition());
    assert.equal(dispatcher.status('dest')?.retrying, 1, 'the replay still retries');
    await dispatcher.stop();
  });
});

test('a save refused at stop (a lost lease) is logged as not retried, and the next run delivers the unsaved events again', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const { log, text } = capturedLog();
    const got: number[] = [];
    const send: DestinationSpec['send'] = async (batch) =>
      batch.map(({ event }) => {
        got.push((event.data as { n: number }).n);
        return delivered();
      });
    const first = new Dispatcher(store, log, createMetrics());
    await first.start();
    // No save before the stop: the stop's save is the one refused.
    first.upsert(spec({ id: 'dest', record: 'all', saveDelayMs: 60_000, send }));
    await store.append([1, 2, 3].map((n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: { n } })));
    await eventually(() => got.length === 3, 'the three events');
    const save = store.saveDeliveries;
    store.saveDeliveries = async () => {
      throw new Error('the lease of dest went to another node');
    };
    await first.stop();
    store.saveDeliveries = save;
    const logged = text();
    assert.match(logged, /could not save delivery state at stop; not retried/);
    assert.doesNotMatch(logged, /will retry/);

    const second = new Dispatcher(store, silent, createMetrics());
    await second.start();
    second.upsert(spec({ id: 'dest', record: 'all', send }));
    await eventually(() => got.length === 6, 'the unsaved events delivered again');
    assert.deepEqual(got, [1, 2, 3, 1, 2, 3]);
    await second.stop();
  });
});
