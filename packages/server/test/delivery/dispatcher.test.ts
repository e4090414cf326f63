import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dispatcher } from '../../src/delivery/dispatcher.ts';
import type { Delivery, DestinationSpec } from '../../src/delivery/destination.ts';
import { delivered, retry, dead, type Outcome } from '../../src/delivery/outcome.ts';
import { backoff } from '../../src/delivery/retry-policy.ts';
import { createMetrics } from '../../src/ops/metrics.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { eventually } from '../helpers/pombo-harness.ts';
import { instance, silent, spec, withStore } from './dispatcher-fixtures.ts';

const chat = (jid: string, n: number) => ({ key: { remoteJid: jid, fromMe: false, id: `m${n}` }, n });

test('every event reaches the destination once, retries until delivered, and the cursor reaches the head', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    const seen: number[] = [];
    const failedOnce = new Set<number>();
    dispatcher.upsert(
      spec({
        id: 'dest',
        send: async (batch: readonly Delivery[]): Promise<Outcome[]> =>
          batch.map(({ event }) => {
            const n = (event.data as { n: number }).n;
            if (n % 3 === 0 && !failedOnce.has(n)) {
              failedOnce.add(n);
              return retry('flaky');
            }
            seen.push(n);
            return delivered();
          }),
      }),
    );
    await store.append(Array.from({ length: 30 }, (_, n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: { n } })));
    await eventually(() => seen.length === 30, 'all 30 delivered');
    assert.deepEqual([...seen].sort((x, y) => x - y), Array.from({ length: 30 }, (_, n) => n));
    await eventually(async () => (await store.getCursor('dest')) === (await store.headPosition()), 'cursor at head');
    // A retried delivery's final record is written with the next save, after its pending record let the cursor pass.
    const deliveredRecords = () => store.listDeliveries({ destination: 'dest', status: 'delivered', limit: 100 });
    await eventually(async () => (await deliveredRecords()).length === 30, 'every delivery recorded as delivered');
    const records = await deliveredRecords();
    assert.equal(records.length, 30);
    assert.equal(records.find((r) => (r.pos - 1) % 3 === 0 && r.pos > 1)?.attempts.length, 2);
    await dispatcher.stop();
  });
});

test('a backlog larger than the window is delivered once, even when parked retries leave less than a read of room', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    // The worker holds 10,000 events; the first 9,700 wait a minute for their retry, so the 600 behind
    // them must come through the 300 places left, a few hundred at a time.
    const parked = 9_700;
    const total = 10_300;
    const seen: number[] = [];
    dispatcher.upsert(
      spec({
        id: 'dest',
        maxInFlight: 32,
        retry: backoff({ maxAttempts: 100, initialDelayMs: 60_000, maxDelayMs: 60_000, exponential: false, jitterFactor: 0 }),
        send: async (batch: readonly Delivery[]): Promise<Outcome[]> =>
          batch.map(({ event }) => {
            const n = (event.data as { n: number }).n;
            if (n < parked) return retry('receiver busy');
            seen.push(n);
            return delivered();
          }),
      }),
    );
    await store.append(Array.from({ length: total }, (_, n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: { n } })));
    await eventually(() => seen.length === total - parked, `the ${total - parked} events behind the parked retries`, 30_000);
    assert.deepEqual([...seen].sort((x, y) => x - y), Array.from({ length: total - parked }, (_, n) => parked + n));
    await dispatcher.stop();
  });
});

test('after the last attempt a delivery is dead-lettered with its attempts, and a replay delivers it again', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    let healthy = false;
    const got: string[] = [];
    dispatcher.upsert(
      spec({
        id: 'dest',
        send: async (batch) =>
          batch.map(({ event }) => {
            if (!healthy) return retry('down');
            got.push(event.id);
            return delivered();
          }),
      }),
    );
    const [result] = await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: { n: 1 } }]);
    const failed = await eventually(
      async () => (await store.listDeliveries({ destination: 'dest', status: 'failed', limit: 10 }))[0],
      'a dead letter',
    );
    assert.equal(failed.attempts.length, 3);
    assert.equal(failed.attempts[0]?.error, 'down');
    healthy = true;
    await dispatcher.replay('dest', [result!.event]);
    await eventually(() => got.length === 1, 'the replayed event');
    await eventually(async () => (await store.listDeliveries({ destination: 'dest', status: 'delivered', limit: 10 })).length === 1, 'delivered record');
    await dispatcher.stop();
  });
});

test('a non-retryable outcome dead-letters at once', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    let calls = 0;
    dispatcher.upsert(spec({ id: 'dest', send: async (batch) => batch.map(() => (calls++, dead('HTTP 400'))) }));
    await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: {} }]);
    await eventually(async () => (await store.listDeliveries({ destination: 'dest', status: 'failed', limit: 10 })).length === 1, 'dead letter');
    assert.equal(calls, 1);
    await dispatcher.stop();
  });
});

test('chat ordering keeps each chat in order while a blocked chat does not delay the others', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    const order: Record<string, number[]> = { x: [], y: [] };
    let xFailures = 0;
    dispatcher.upsert(
      spec({
        id: 'dest',
        ordering: 'chat',
        retry: backoff({ maxAttempts: 10, initialDelayMs: 100, maxDelayMs: 100, exponential: false, jitterFactor: 0 }),
        send: async (batch) =>
          batch.map(({ event }) => {
            const data = event.data as { key: { remoteJid: string }; n: number };
            const jid = data.key.remoteJid;
            if (jid === 'x' && data.n === 0 && xFailures < 2) {
              xFailures++;
              return retry('x is blocked');
            }
            order[jid]!.push(data.n);
            return delivered();
          }),
      }),
    );
    const events = [];
    for (let n = 0; n < 10; n++) {
      events.push({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: chat('x', n) });
      events.push({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: chat('y', n) });
    }
    await store.append(events);
    await eventually(() => order.y!.length === 10, 'chat y delivered');
    assert.equal(order.x!.length, 0, 'chat x waits behind its failing first message');
    await eventually(() => order.x!.length === 10, 'chat x delivered after its retries');
    assert.deepEqual(order.x, [...Array(10).keys()]);
    assert.deepEqual(order.y, [...Array(10).keys()]);
    await dispatcher.stop();
  });
});

test('pending retries survive a restart and are delivered afterwards', async () => {
  await withStore(async (store, file) => {
    const id = await instance(store, 'a');
    let dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    const destination = (send: DestinationSpec['send']) =>
      spec({ id: 'dest', retry: backoff({ maxAttempts: 100, initialDelayMs: 50, maxDelayMs: 50, exponential: false, jitterFactor: 0 }), send });
    dispatcher.upsert(destination(async (batch) => batch.map(() => retry('down'))));
    await store.append(Array.from({ length: 5 }, (_, n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: { n } })));
    await eventually(async () => (await store.listDeliveries({ destination: 'dest', status: 'pending', limit: 10 })).length === 5, '5 pending');
    await dispatcher.stop();
    await store.close();

    const reopened = new SqliteStore(file);
    dispatcher = new Dispatcher(reopened, silent, createMetrics());
    await dispatcher.start();
    const got: number[] = [];
    dispatcher.upsert(destination(async (batch) => batch.map(({ event }) => (got.push((event.data as { n: number }).n), delivered()))));
    await eventually(() => got.length >= 5, 'the 5 pending events');
    assert.deepEqual([...new Set(got)].sort(), [0, 1, 2, 3, 4]);
    await dispatcher.stop();
    await reopened.close();
  });
});

test('a destination filtered by instance and event only receives those', async () => {
  await withStore(async (store) => {
    const a = await instance(store, 'a');
    const b = await instance(store, 'b');
    const dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    const got: string[] = [];
    dispatcher.upsert(
      spec({
        id: 'dest',
        instanceId: a,
        events: new Set(['MESSAGES_UPSERT'] as const),
        send: async (batch) => batch.map(({ event }) => (got.push(`${event.instance}:${event.event}`), delivered())),
      }),
    );
    await store.append([
      { instanceId: a, event: 'MESSAGES_UPSERT', data: {} },
      { instanceId: b, event: 'MESSAGES_UPSERT', data: {} },
      { instanceId: a, event: 'PRESENCE_UPDATE', data: {} },
      { instanceId: a, event: 'MESSAGES_UPSERT', data: {} },
    ]);
    await eventually(() => got.length === 2, 'two events');
    await dispatcher.whenIdle('dest');
    assert.deepEqual(got, ['a:MESSAGES_UPSERT', 'a:MESSAGES_UPSERT']);
    await dispatcher.stop();
  });
});

test('a replay to a destination that records only failures leaves no pending record once delivered', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const got: string[] = [];
    const send: DestinationSpec['send'] = async (batch) => batch.map(({ event }) => (got.push(event.id), delivered()));
    let dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    dispatcher.upsert(spec({ id: 'dest', record: 'failures', send }));
    const [result] = await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: {} }]);
    await eventually(() => got.length === 1, 'the first delivery');
    await dispatcher.replay('dest', [result!.event]);
    await eventually(() => got.length === 2, 'the replayed delivery');
    await dispatcher.whenIdle('dest');
    await dispatcher.stop();
    assert.deepEqual(await store.pendingDeliveries('dest', 10), []);
    // A restart must not deliver it a third time.
    dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    dispatcher.upsert(spec({ id: 'dest', record: 'failures', send }));
    await dispatcher.whenIdle('dest');
    assert.equal(got.length, 2);
    await dispatcher.stop();
  });
});

test('saveDelayMs defers cursor writes; stopping the dispatcher still saves the cursor', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    let got = 0;
    dispatcher.upsert(spec({ id: 'slow-save', record: 'failures', startAt: 'now', saveDelayMs: 60_000, send: async (batch) => batch.map(() => (got++, delivered())) }));
    await dispatcher.whenIdle('slow-save');
    const start = await store.getCursor('slow-save');
    const results = await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: {} }]);
    await eventually(() => got === 1, 'the delivery');
    assert.equal(await store.getCursor('slow-save'), start, 'not saved before the delay');
    await dispatcher.stop();
    assert.equal(await store.getCursor('slow-save'), results[0]!.event.pos);
  });
});

test('metrics name a destination by channel and instance name; destinations of one instance and channel add up; removed ones leave no gauge', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    const metrics = createMetrics();
    const names = new Map([[id, 'alice']]);
    const dispatcher = new Dispatcher(store, silent, metrics, (instanceId) => names.get(instanceId));
    await dispatcher.start();
    const send: DestinationSpec['send'] = async (batch) => batch.map(() => delivered());
    dispatcher.upsert(spec({ id: 'client-1', instanceId: id, send }));
    dispatcher.upsert(spec({ id: 'client-2', instanceId: id, send }));
    dispatcher.upsert(spec({ id: 'every-instance', send }));
    await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: {} }]);
    await Promise.all(['client-1', 'client-2', 'every-instance'].map((d) => eventually(() => dispatcher.status(d)?.delivered === 1, d)));
    dispatcher.collect();
    const deliveries = await metrics.registry.getSingleMetricAsString('pombo_deliveries_total');
    assert.match(deliveries, /\{channel="test",instance_name="alice",outcome="delivered"\} 2/);
    assert.match(deliveries, /\{channel="test",instance_name="\*",outcome="delivered"\} 1/);
    assert.match(await metrics.registry.getSingleMetricAsString('pombo_delivery_latency_seconds'), /_count\{channel="test"\} 3/);
    assert.doesNotMatch(deliveries, /client-1|instance_name="a"/);
    assert.match(await metrics.registry.getSingleMetricAsString('pombo_destination_lag_events'), /instance_name="alice"\} 0/);
    await dispatcher.remove('client-1');
    await dispatcher.remove('client-2');
    dispatcher.collect();
    assert.doesNotMatch(await metrics.registry.getSingleMetricAsString('pombo_destination_lag_events'), /alice/);
    await dispatcher.stop();
  });
});

test('an event committed while a worker reads its backlog is delivered without waiting for another append', async () => {
  await withStore(async (store) => {
    const id = await instance(store, 'a');
    await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: { n: 1 } }]);
    // The worker's first read of the log waits until the second event is committed: the dispatcher's
    // offer of it finds the worker still reading.
    let releaseRead = () => {};
    const readHeld = new Promise<void>((resolve) => (releaseRead = resolve));
    const read = store.read.bind(store);
    let reads = 0;
    store.read = async (query) => {
      const events = await read(query);
      if (++reads === 1) await readHeld;
      return events;
    };
    const dispatcher = new Dispatcher(store, silent, createMetrics());
    await dispatcher.start();
    const seen: number[] = [];
    dispatcher.upsert(spec({ id: 'dest', send: async (batch) => batch.map(({ event }) => (seen.push((event.data as { n: number }).n), delivered())) }));
    await eventually(() => reads === 1, 'the worker reads its backlog');
    await store.append([{ instanceId: id, event: 'MESSAGES_UPSERT', data: { n: 2 } }]);
    releaseRead();
    // No append follows: the second event must not wait for one.
    await eventually(() => seen.length === 2, 'both events delivered').catch(() => undefined);
    assert.deepEqual(seen, [1, 2]);
    await dispatcher.stop();
  });
});
