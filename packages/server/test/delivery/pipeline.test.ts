import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Dispatcher } from '../../src/delivery/dispatcher.ts';
import type { Delivery, DestinationSpec } from '../../src/delivery/destination.ts';
import { delivered, retry } from '../../src/delivery/outcome.ts';
import { backoff } from '../../src/delivery/retry-policy.ts';
import { createMetrics } from '../../src/ops/metrics.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { eventually } from '../helpers/pombo-harness.ts';

/** A dispatcher on a fresh SQLite log, with one instance `a`. */
async function withDispatcher(run: (dispatcher: Dispatcher, append: (count: number) => Promise<void>, store: SqliteStore) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-pipeline-'));
  const store = new SqliteStore(join(dir, 'pombo.db'));
  const dispatcher = new Dispatcher(store, pino({ level: 'silent' }), createMetrics());
  try {
    await store.createInstance({ id: 'a', name: 'a', token: 'a-token-0123456789', integration: 'INGEST', number: null, channels: {} });
    await dispatcher.start();
    let next = 0;
    const append = async (count: number) => {
      await store.append(Array.from({ length: count }, () => ({ instanceId: 'a', event: 'MESSAGES_UPSERT' as const, data: { n: next++ } })));
    };
    await run(dispatcher, append, store);
  } finally {
    await dispatcher.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const pipelined = (send: DestinationSpec['send']): DestinationSpec => ({
  id: 'broker',
  channel: 'test',
  instanceId: null,
  events: null,
  ordering: 'instance',
  maxInFlight: 8,
  maxBatch: 10,
  pipeline: 3,
  retry: backoff({ maxAttempts: 100, initialDelayMs: 5, maxDelayMs: 5, exponential: false, jitterFactor: 0 }),
  record: 'failures',
  startAt: 'beginning',
  send,
});

const numbers = (batch: readonly Delivery[]) => batch.map(({ event }) => (event.data as { n: number }).n);

test('a pipelined lane has several batches in flight, and delivers every event once, in order', async () => {
  await withDispatcher(async (dispatcher, append, store) => {
    const seen: number[] = [];
    let inFlight = 0;
    let most = 0;
    dispatcher.upsert(
      pipelined(async (batch) => {
        inFlight++;
        most = Math.max(most, inFlight);
        seen.push(...numbers(batch));
        await sleep(20);
        inFlight--;
        return batch.map(() => delivered());
      }),
    );
    await append(100);
    await eventually(() => seen.length === 100, 'all 100 sent');
    assert.deepEqual(seen, Array.from({ length: 100 }, (_, n) => n));
    assert.equal(most, 3, 'three batches of the one lane in flight at once');
    await eventually(async () => (await store.getCursor('broker')) === (await store.headPosition()), 'the cursor at the head');
  });
});

test('a batch answered behind a failure goes again after it, so the last copy of every event keeps the order', async () => {
  await withDispatcher(async (dispatcher, append, store) => {
    const sent: number[] = [];
    let failed = false;
    dispatcher.upsert(
      pipelined(async (batch) => {
        const ns = numbers(batch);
        sent.push(...ns);
        // The first batch fails at n=5 and answers last; the batches after it succeed first.
        if (!failed && ns.includes(5)) {
          failed = true;
          await sleep(50);
          return ns.map((n) => (n < 5 ? delivered() : retry('nacked')));
        }
        await sleep(5);
        return batch.map(() => delivered());
      }),
    );
    await append(30);
    await eventually(async () => (await store.getCursor('broker')) === (await store.headPosition()), 'the cursor at the head', 5000);
    const lastCopies = [...new Set([...sent].reverse())].reverse();
    assert.deepEqual(lastCopies, Array.from({ length: 30 }, (_, n) => n), 'the last copies are in log order');
    assert.ok(sent.length > 30, 'events sent behind the failure went again');
  });
});

test('after a failure a lane sends its retried head alone until it gets through: nothing that got through goes twice when the destination comes back', async () => {
  await withDispatcher(async (dispatcher, append, store) => {
    const deliveredNs: number[] = [];
    let down = true;
    let failedCalls = 0;
    await append(30);
    dispatcher.upsert(
      pipelined(async (batch) => {
        if (down) {
          // The three first batches fail (the outage); the fourth call, the retried head, fails too, but the
          // destination comes back while its answer is on its way: a batch sent beside it would get through.
          if (++failedCalls === 4) {
            down = false;
            await sleep(30);
          }
          return batch.map(() => retry('connection lost'));
        }
        deliveredNs.push(...numbers(batch));
        await sleep(2);
        return batch.map(() => delivered());
      }),
    );
    await eventually(async () => (await store.getCursor('broker')) === (await store.headPosition()), 'the cursor at the head', 5000);
    assert.equal(failedCalls, 4);
    assert.deepEqual(deliveredNs, Array.from({ length: 30 }, (_, n) => n), 'every event got through once, in order');
  });
});

test('a destination that keeps no order (an SQS standard queue) sends again only the events that failed, not those of its batch it took', async () => {
  for (const pipeline of [1, 3]) {
    await withDispatcher(async (dispatcher, append, store) => {
      const sent: number[] = [];
      let failed = false;
      dispatcher.upsert({
        ...pipelined(async (batch) => {
          const ns = numbers(batch);
          sent.push(...ns);
          // The first call of the first batch fails, the other calls of that batch got through (SQS answers per call).
          if (!failed) {
            failed = true;
            return ns.map((n) => (n < 3 ? retry('socket hang up') : delivered()));
          }
          return batch.map(() => delivered());
        }),
        pipeline,
        ordered: false,
      });
      await append(30);
      await eventually(async () => (await store.getCursor('broker')) === (await store.headPosition()), 'the cursor at the head', 5000);
      const copies = new Map<number, number>();
      for (const n of sent) copies.set(n, (copies.get(n) ?? 0) + 1);
      const twice = [...copies].filter(([, count]) => count > 1).map(([n]) => n);
      assert.deepEqual(twice, [0, 1, 2], `pipeline ${pipeline}: only the three that failed went twice`);
      assert.equal(copies.size, 30, `pipeline ${pipeline}: every event went`);
    });
  }
});

test('a pipelined destination with a circuit breaker: a probe granted while its lane waits for a retry is not used up, and the destination recovers', async () => {
  await withDispatcher(async (dispatcher, append) => {
    let failing = true;
    const got: number[] = [];
    dispatcher.upsert({
      ...pipelined(async (batch) => {
        if (failing) return batch.map(() => retry('down'));
        got.push(...numbers(batch));
        return batch.map(() => delivered());
      }),
      // The cooldown ends before the retry is due: the first probe finds the lane's head still waiting.
      circuit: { failureThreshold: 1, cooldownMs: 50, maxCooldownMs: 50 },
      retry: backoff({ maxAttempts: 1000, initialDelayMs: 400, maxDelayMs: 400, exponential: false, jitterFactor: 0 }),
    });
    await append(1);
    await eventually(() => dispatcher.status('broker')?.state === 'paused', 'paused after the failure');
    failing = false;
    await eventually(() => got.length === 1, 'delivered once the destination is back', 5000);
    assert.equal(dispatcher.status('broker')?.state, 'healthy');
  });
});
