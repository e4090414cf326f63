import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliveryRecord, Ledger } from '../../src/delivery/ledger-writer.ts';
import { LeaseLostError } from '../../src/store/lease-lost-error.ts';
import type { DeliveryRecord, Store, StoredEvent } from '../../src/store/types.ts';
import { capturedLog, instance, silent, withStore } from './dispatcher-fixtures.ts';

/**
 * The one writer of delivery state (delivery/ledger-writer.ts), over a real SQLite store: the position
 * and the records queued before it go in one write, saves never overlap, a failed save's records are
 * written by the next one, a stopped writer writes no more.
 */

async function events(store: Store, count: number): Promise<StoredEvent[]> {
  const id = await instance(store, `ledger-${Math.random().toString(36).slice(2)}`);
  const results = await store.append(Array.from({ length: count }, (_, n) => ({ instanceId: id, event: 'MESSAGES_UPSERT' as const, data: { n } })));
  return results.map((result) => result.event);
}

/** Counts the store's delivery writes, and how many run at once. */
function instrument(store: Store): { writes: Array<{ records: number; cursor: number | undefined }>; overlapped: () => boolean; fail: (error?: Error) => void } {
  const save = store.saveDeliveries.bind(store);
  const writes: Array<{ records: number; cursor: number | undefined }> = [];
  let running = 0;
  let overlapped = false;
  let failWith: Error | undefined;
  store.saveDeliveries = async (destination, records, cursor) => {
    running++;
    overlapped ||= running > 1;
    try {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const error = failWith;
      failWith = undefined;
      if (error) throw error;
      writes.push({ records: records.length, cursor });
      return await save(destination, records, cursor);
    } finally {
      running--;
    }
  };
  return { writes, overlapped: () => overlapped, fail: (error = new Error('the disk is full')) => (failWith = error) };
}

const failed = (destination: string, event: StoredEvent): DeliveryRecord => deliveryRecord(destination, event, 'failed', [{ at: new Date().toISOString(), durationMs: 0, error: 'no' }]);

test('records and the position go in one write; flushes asked at once wait for each other, and one that finds nothing new writes nothing', () =>
  withStore(async (store) => {
    const [first, second] = await events(store, 2);
    const io = instrument(store);
    let position = 0;
    const writer = new Ledger(store, silent).writer('dest', { position: () => position });
    writer.queue(failed('dest', first!));
    position = second!.pos;
    assert.ok(writer.moved);
    const results = await Promise.all([writer.flush(), writer.flush(), writer.flush()]);
    assert.deepEqual(results, [undefined, undefined, undefined]);
    assert.deepEqual(io.writes, [{ records: 1, cursor: second!.pos }], 'one write: the later flushes found nothing new');
    assert.equal(io.overlapped(), false);
    assert.equal(writer.moved, false);
    assert.equal(await store.getCursor('dest'), second!.pos);
    assert.deepEqual((await store.listDeliveries({ destination: 'dest', status: 'failed', limit: 10 })).map((record) => record.eventId), [first!.id]);
  }));

test("a failed save is logged and answered; its records go with the next save, before the position that counts on them", () =>
  withStore(async (store) => {
    const [first, second] = await events(store, 2);
    const io = instrument(store);
    const { log, text } = capturedLog();
    let position = first!.pos;
    const writer = new Ledger(store, log).writer('dest', { position: () => position });
    writer.queue(failed('dest', first!));
    io.fail();
    const error = await writer.flush();
    assert.match(String(error), /the disk is full/);
    assert.match(text(), /could not save delivery state; will retry/);
    assert.equal(await store.getCursor('dest'), undefined, 'nothing written');
    assert.ok(writer.moved, 'the record waits for the next save');
    writer.queue(failed('dest', second!));
    position = second!.pos;
    assert.equal(await writer.flush(), undefined);
    assert.deepEqual(io.writes, [{ records: 2, cursor: second!.pos }]);
    assert.equal((await store.listDeliveries({ destination: 'dest', status: 'failed', limit: 10 })).length, 2);
  }));

test('a lost lease is answered, not logged (its owner acts on it); a writer with a delay saves by itself, and a stopped one no more', () =>
  withStore(async (store) => {
    const [first, second] = await events(store, 2);
    const io = instrument(store);
    const { log, text } = capturedLog();
    let position = first!.pos;
    const writer = new Ledger(store, log).writer('dest', { position: () => position }, { delayMs: 10 });
    io.fail(new LeaseLostError('dest'));
    assert.ok((await writer.flush()) instanceof LeaseLostError);
    assert.doesNotMatch(text(), /could not save/, 'a lost lease is not logged as a failed save');
    // The failed save scheduled the next one.
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await store.getCursor('dest'), first!.pos);
    position = second!.pos;
    io.fail(new LeaseLostError('dest'));
    await writer.stop();
    assert.match(text(), /"level":30.*delivery state not saved at stop: the lease is held elsewhere now/, 'a stop refused for a lost lease is told at info');
    assert.doesNotMatch(text(), /"level":50/, 'and not as an error');
    writer.schedule();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await store.getCursor('dest'), first!.pos, 'nothing written after the stop');
    assert.equal(io.writes.length, 1);
  }));

test('a position kept in memory is never written, while records are', () =>
  withStore(async (store) => {
    const [first] = await events(store, 1);
    let position = 0;
    const writer = new Ledger(store, silent).writer('feed', { position: () => position }, { inMemory: true });
    await writer.begin(0);
    position = first!.pos;
    writer.queue(failed('feed', first!));
    await writer.flush();
    assert.equal(writer.position, first!.pos);
    assert.equal(await store.getCursor('feed'), undefined);
    assert.equal((await store.listDeliveries({ destination: 'feed', limit: 10 })).length, 1);
  }));

test('writers that save by themselves save on one timer per delay: destinations scheduled apart are saved in the same turn (one transaction)', () =>
  withStore(async (store) => {
    const [first] = await events(store, 1);
    const ledger = new Ledger(store, silent);
    const save = store.saveDeliveries.bind(store);
    let turn = 0;
    let turning = true;
    const tick = () => setImmediate(() => (turn++, turning && tick()));
    tick();
    const calls: Array<{ destination: string; turn: number }> = [];
    store.saveDeliveries = (destination, records, cursor) => {
      calls.push({ destination, turn });
      return save(destination, records, cursor);
    };
    try {
      const writers = ['a', 'b', 'c'].map((name) => ledger.writer(name, { position: () => first!.pos }, { delayMs: 30 }));
      for (const writer of writers) {
        writer.schedule();
        await new Promise((resolve) => setTimeout(resolve, 8));
      }
      await new Promise((resolve) => setTimeout(resolve, 60));
      assert.deepEqual(calls.map((call) => call.destination).sort(), ['a', 'b', 'c'], 'each saved once');
      assert.equal(new Set(calls.map((call) => call.turn)).size, 1, `saved in one turn, not 8 ms apart (turns ${calls.map((call) => call.turn)})`);
      for (const name of ['a', 'b', 'c']) assert.equal(await store.getCursor(name), first!.pos);
    } finally {
      turning = false;
    }
  }));

test('a save that fails while the writer stops is not called the last one: the stop saves its records again, and says nothing was lost', () =>
  withStore(async (store) => {
    const [first] = await events(store, 1);
    const io = instrument(store);
    const { log, text } = capturedLog();
    const writer = new Ledger(store, log).writer('dest', { position: () => first!.pos });
    writer.queue(failed('dest', first!));
    io.fail();
    const underWay = writer.flush();
    await writer.stop();
    assert.ok((await underWay) instanceof Error, 'the save under way failed');
    assert.equal(await store.getCursor('dest'), first!.pos, "the stop's own save wrote the position");
    assert.equal((await store.listDeliveries({ destination: 'dest', status: 'failed', limit: 10 })).length, 1, 'and the record the failed save handed back');
    assert.doesNotMatch(text(), /not retried/, 'the failed save was retried by the stop, so it does not say otherwise');
  }));
