import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Dispatcher } from '../../src/delivery/dispatcher.ts';
import type { DestinationSpec } from '../../src/delivery/destination.ts';
import { delivered, retry } from '../../src/delivery/outcome.ts';
import { backoff } from '../../src/delivery/retry-policy.ts';
import { createMetrics } from '../../src/ops/metrics.ts';
import { eventually } from '../helpers/pombo-harness.ts';
import type { DeliveryRecord, Store } from '../../src/store/types.ts';
import { instance, silent, spec, withStore } from './dispatcher-fixtures.ts';

/** A destination that records the `n` of each event it gets, answering `answer(n)`. */
function recording(answer: (n: number) => ReturnType<typeof delivered> | ReturnType<typeof retry> = () => delivered()) {
  const got: number[] = [];
  const send: DestinationSpec['send'] = async (batch) =>
    batch.map(({ event }) => {
      const n = (event.data as { n: number }).n;
      const outcome = answer(n);
      if (outcome.kind === 'delivered') got.push(n);
      return outcome;
    });
  return { got, send };
}

async function started(store: Store, destination: DestinationSpec): Promise<Dispatcher> {
  const dispatcher = new Dispatcher(store, silent, createMetrics());
  await dispatcher.start();
  dispatcher.upsert(destination);
  return dispatcher;
}

test('a worker stopped before it loaded its cursor (a shutdown right after boot) leaves the stored cursor as it was', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const { got, send } = recording();
    const first = await started(store, spec({ id: 'dest', record: 'failures', send }));
    await store.append(Array.from({ length: 5 }, (_, n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: { n } })));
    await first.whenIdle('dest');
    await first.stop();
    const cursor = await store.getCursor('dest');
    assert.equal(got.length, 5);

    const second = await started(store, spec({ id: 'dest', record: 'failures', send }));
    await second.stop();
    assert.equal(await store.getCursor('dest'), cursor, 'not written over with 0');

    got.length = 0;
    const third = await started(store, spec({ id: 'dest', record: 'failures', send }));
    await sleep(200);
    await third.stop();
    assert.deepEqual(got, [], 'nothing delivered again');
  });
});

test('a store error while a worker starts does not reload its pending retries twice: each is delivered once', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    let failing = true;
    const { got, send } = recording(() => (failing ? retry('down') : delivered()));
    const destination = () => spec({ id: 'dest', record: 'all', retry: backoff({ maxAttempts: 100, initialDelayMs: 300, maxDelayMs: 300, exponential: false, jitterFactor: 0 }), send });
    const first = await started(store, destination());
    await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: { n: 7 } }]);
    await sleep(100);
    await first.stop();
    assert.equal((await store.pendingDeliveries('dest', 10)).length, 1, 'a retry is pending');

    failing = false;
    // The database drops the connection once while the worker reads the records past its cursor.
    let dropped = false;
    const listDeliveries = store.listDeliveries.bind(store);
    store.listDeliveries = async (query) => {
      if (!query.status && !dropped) {
        dropped = true;
        throw new Error('connection reset');
      }
      return listDeliveries(query);
    };
    const second = await started(store, destination());
    await sleep(1800);
    await second.stop();
    assert.ok(dropped, 'the start failed once');
    assert.deepEqual(got, [7], 'delivered once');
  });
});

test('after a restart, no event delivered before it goes again, however long the delivery log past the cursor (20,500 records)', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const message = (chat: string, n: number) => ({ key: { remoteJid: chat, fromMe: false, id: `${chat}-${n}` }, n });
    // Event 0 keeps failing: chat x holds the cursor while every other chat is delivered and recorded past it.
    const { got, send } = recording((n) => (n === 0 ? retry('down') : delivered()));
    const destination = () =>
      spec({ id: 'dest', ordering: 'chat', record: 'all', maxInFlight: 64, retry: backoff({ maxAttempts: 1000, initialDelayMs: 600_000, maxDelayMs: 600_000, exponential: false, jitterFactor: 0 }), send });
    const first = await started(store, destination());
    await store.append([0, 1].map((n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: message('x', n) })));
    const others = 20_500;
    for (let from = 0; from < others; from += 500) {
      await store.append(Array.from({ length: 500 }, (_, k) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: message(`y${k % 50}`, 1000 + from + k) })));
    }
    await eventually(() => got.length === others, 'every other chat delivered', 60_000);
    await first.stop();
    assert.ok(((await store.getCursor('dest')) ?? 0) < 3, 'chat x holds the cursor');

    got.length = 0;
    const second = await started(store, destination());
    await sleep(2000);
    await second.stop();
    assert.deepEqual(got, [], 'nothing delivered again');
  });
});

test('after a restart, more pending retries than a window (10,200) are all reloaded and delivered, a window at a time', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    let failing = false;
    const { got, send } = recording(() => (failing ? retry('down') : delivered()));
    const deliveredOnce = () => new Set(got).size;
    const destination = () => spec({ id: 'dest', maxInFlight: 64, retry: backoff({ maxAttempts: 1000, initialDelayMs: 2000, maxDelayMs: 2000, exponential: false, jitterFactor: 0 }), send });
    const first = await started(store, destination());
    const early = await store.append(Array.from({ length: 200 }, (_, n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: { n } })));
    await eventually(() => deliveredOnce() === 200, 'the first 200 delivered');
    // The endpoint goes down: a window of retries waits, and an operator replays the first 200 on top.
    failing = true;
    for (let from = 0; from < 10_000; from += 500) {
      await store.append(Array.from({ length: 500 }, (_, k) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: { n: 1000 + from + k } })));
    }
    await eventually(() => first.status('dest')?.retrying === 10_000, 'a window of retries', 30_000);
    await first.replay('dest', early.map((result) => result.event));
    await first.stop();
    assert.equal((await store.pendingDeliveries('dest', 100_000)).length, 10_200);

    failing = false;
    got.length = 0;
    const second = await started(store, destination());
    await eventually(() => deliveredOnce() === 10_200, 'every pending retry delivered', 30_000);
    await eventually(async () => (await store.pendingDeliveries('dest', 10)).length === 0, 'none left pending');
    await second.stop();
  });
});

/** The destination's dead letter, once the worker has written it. */
const deadLetterOf = (store: Store, destination: string): Promise<DeliveryRecord> =>
  eventually(async () => (await store.listDeliveries({ destination, status: 'failed', limit: 10 }))[0], 'the dead letter');

test('a retry keeps counting its attempts across a restart, past the 20 its record keeps: it gives up after exactly the configured number', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    let sends = 0;
    const send: DestinationSpec['send'] = async (batch) => batch.map(() => (sends++, retry('down')));
    const destination = () => spec({ id: 'dest', record: 'all', retry: backoff({ maxAttempts: 25, initialDelayMs: 10, maxDelayMs: 10, exponential: false, jitterFactor: 0 }), send });
    const first = await started(store, destination());
    await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: { n: 1 } }]);
    await eventually(() => sends >= 22, '22 attempts before the restart');
    await first.stop();
    const [pending] = await store.pendingDeliveries('dest', 10);
    assert.equal(pending?.attempts.length, 20, 'the record keeps the last 20 attempts');
    assert.equal(pending?.attempts.at(-1)?.number, sends, 'the last one says which attempt it was');

    const second = await started(store, destination());
    const dead = await deadLetterOf(store, 'dest');
    await second.stop();
    assert.equal(sends, 25, 'WEBHOOK_RETRY_MAX_ATTEMPTS-like limits hold across restarts: 25 attempts in all');
    assert.equal(dead.attempts.at(-1)?.number, 25);
  });
});

/**
 * A destination that records only failures (brokers) writes no record for a retry from the log (it
 * holds the cursor instead), but a replayed event has a pending record from the start: each retry
 * keeps it current, so its attempts still count after a restart, and its success or dead letter
 * replaces it (no pending record is left behind to be sent again).
 */
test('a replayed retry of a destination that records only failures keeps its pending record current across a restart, and its end replaces it', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    let mode: 'deliver' | 'fail' = 'deliver';
    let retries = 0;
    const send: DestinationSpec['send'] = async (batch) => batch.map(() => (mode === 'deliver' ? delivered() : (retries++, retry('down'))));
    const destination = () => spec({ id: 'dest', record: 'failures', retry: backoff({ maxAttempts: 6, initialDelayMs: 10, maxDelayMs: 10, exponential: false, jitterFactor: 0 }), send });
    const first = await started(store, destination());
    const [appended] = await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: { n: 1 } }]);
    await first.whenIdle('dest');
    mode = 'fail';
    await first.replay('dest', [appended!.event]);
    await eventually(() => retries >= 3, 'three failed attempts of the replay');
    await first.stop();
    const [pending] = await store.pendingDeliveries('dest', 10);
    assert.equal(pending?.attempts.at(-1)?.number, retries, 'the pending record has every attempt so far');

    const second = await started(store, destination());
    const dead = await deadLetterOf(store, 'dest');
    await second.stop();
    assert.equal(retries, 6, 'six attempts in all, as configured, the restart in between');
    assert.equal(dead.attempts.at(-1)?.number, 6);
    assert.deepEqual(await store.pendingDeliveries('dest', 10), [], 'the dead letter replaced the pending record');

    // Replayed again, it gets through after a restart: its delivery replaces the pending record, and a
    // further restart sends nothing again.
    const third = await started(store, destination());
    await third.replay('dest', [appended!.event]);
    await eventually(() => retries >= 7, 'a failed attempt of the second replay');
    await third.stop();
    mode = 'deliver';
    let sent = 0;
    const counting: DestinationSpec['send'] = async (batch) => batch.map(() => (sent++, delivered()));
    const fourth = await started(store, { ...destination(), send: counting });
    await eventually(() => sent === 1, 'the reloaded retry delivered');
    await fourth.whenIdle('dest');
    await fourth.stop();
    assert.deepEqual(await store.pendingDeliveries('dest', 10), [], 'its delivery replaced the pending record');
    const fifth = await started(store, { ...destination(), send: counting });
    await sleep(200);
    await fifth.stop();
    assert.equal(sent, 1, 'nothing sent again after one more restart');
  });
});
