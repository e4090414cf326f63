import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { EventKey } from '../../src/core/event-names.ts';
import { timeOfId } from '../../src/core/ids.ts';
import type { AppendRequest, AppendResult, DeliveryRecord, Instance, KeyClaim, Store, StoredEvent } from '../../src/store/types.ts';
import { IdempotencyKeyTakenError } from '../../src/store/idempotency-key-taken-error.ts';
import { OwnerJidTakenError } from '../../src/store/owner-jid-taken-error.ts';
import { TokenTakenError } from '../../src/store/token-taken-error.ts';

/**
 * The contract every event store passes (SQLite and PostgreSQL). Each test works on its own
 * instances and destinations, so the suite also runs against a database other tests share; reads
 * that span instances are bounded by positions the test itself observed. `open` opens the same
 * database each time (the reopen tests close a store and open it again).
 */
export function describeEventStoreConformance(name: string, open: () => Promise<Store>): void {
  describe(`${name} event store conformance`, () => {
    let store: Store;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store.close();
    });

    const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
    const newInstance = (overrides: Partial<Instance> = {}): Promise<Instance> =>
      store.createInstance({ id: randomUUID(), name: unique('conf'), token: randomUUID(), integration: 'INGEST', number: null, channels: {}, ...overrides });
    const request = (instance: Instance, data: unknown = { n: 1 }, event: EventKey = 'MESSAGES_UPSERT', producerId?: string): AppendRequest => ({
      instanceId: instance.id,
      event,
      data,
      producerId,
    });
    const appendOne = async (instance: Instance, data: unknown = { n: 1 }, event: EventKey = 'MESSAGES_UPSERT') => {
      const [result] = await store.append([request(instance, data, event)]);
      assert.ok(result);
      return result.event;
    };
    const allOf = (instance: Instance) => store.read({ instanceId: instance.id, limit: 100_000 });
    const seqs = (events: readonly StoredEvent[]) => events.map((event) => event.seq);
    const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

    describe('append', () => {
      test('gives each event a unique, time-sortable evt_ id, the next position and seq, and a UTC time', async () => {
        const instance = await newInstance();
        const before = Date.now();
        const results = await store.append([request(instance, { a: 1 }), request(instance, { b: [1, 'två', null] }, 'SEND_MESSAGE')]);
        const after = Date.now();
        assert.equal(results.length, 2);
        const [first, second] = results.map((result) => result.event) as [StoredEvent, StoredEvent];
        assert.ok(results.every((result) => result.duplicate === false));
        for (const event of [first, second]) {
          assert.match(event.id, /^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
          assert.match(event.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
          const at = Date.parse(event.createdAt);
          assert.ok(at >= before && at <= after, `${event.createdAt} is the append time`);
          assert.ok(Math.abs((timeOfId(event.id) ?? 0) - at) < 5_000, 'the id carries the append time');
          assert.equal(event.instanceId, instance.id);
          assert.equal(event.instance, instance.name);
        }
        assert.notEqual(first.id, second.id);
        assert.ok(first.id < second.id && first.pos < second.pos);
        assert.deepEqual(seqs([first, second]), [1, 2]);
        assert.deepEqual([first.event, second.event], ['MESSAGES_UPSERT', 'SEND_MESSAGE']);
        assert.deepEqual(await allOf(instance), [first, second], 'read returns exactly what append returned');
      });

      test('keeps data as JSON: nested values, unicode, arrays and null', async () => {
        const instance = await newInstance();
        const values = [{ deep: { list: [1, { x: 'ç😀' }], flag: false, none: null } }, [{ id: 'g@g.us' }], null];
        for (const data of values) await appendOne(instance, data);
        assert.deepEqual((await allOf(instance)).map((event) => event.data), values);
      });

      test('keeps an event’s envelope extras (a history sync’s isLatest and progress) and reads them back', async () => {
        const instance = await newInstance();
        const [withExtras, plain] = await store.append([
          { instanceId: instance.id, event: 'MESSAGES_SET', data: [], extra: { isLatest: false, progress: 40 } },
          { instanceId: instance.id, event: 'MESSAGES_SET', data: [] },
        ]);
        assert.equal(withExtras?.event.extraJson, '{"isLatest":false,"progress":40}');
        assert.equal(plain?.event.extraJson ?? null, null);
        const read = await allOf(instance);
        assert.deepEqual(read.map((event) => event.extraJson ?? null), ['{"isLatest":false,"progress":40}', null]);
        const [byId] = await store.getByIds([withExtras?.event.id ?? '']);
        assert.equal(byId?.extraJson, '{"isLatest":false,"progress":40}');
      });

      test('uses the instance owner JID as sender, null before the instance has one', async () => {
        const instance = await newInstance();
        assert.equal((await appendOne(instance)).sender, null);
        await store.updateInstance(instance.id, { ownerJid: '5511999990000@s.whatsapp.net' });
        assert.equal((await appendOne(instance)).sender, '5511999990000@s.whatsapp.net');
      });

      test('numbers each instance’s events 1, 2, 3… with no gap under many concurrent callers (group commit)', async () => {
        const instances = await Promise.all([newInstance(), newInstance(), newInstance()]);
        const calls = Array.from({ length: 300 }, (_, i) => {
          const instance = instances[i % 3] as Instance;
          const size = 1 + (i % 4);
          return store.append(Array.from({ length: size }, (_, k) => request(instance, { call: i, k })));
        });
        const results = (await Promise.all(calls)).flat();
        assert.equal(results.length, 750);
        assert.equal(new Set(results.map((result) => result.event.id)).size, 750, 'ids are unique');
        for (const instance of instances) {
          const events = await allOf(instance);
          assert.deepEqual(seqs(events), range(250), `${instance.name}: consecutive seq in log order`);
          const ids = events.map((event) => event.id);
          assert.deepEqual([...ids].sort(), ids, 'id order is log order');
        }
        for (const [i, call] of (await Promise.all(calls)).entries()) {
          const data = call.map((result) => result.event.data as { call: number; k: number });
          assert.ok(data.every((item, k) => item.call === i && item.k === k), 'each caller gets its own events, in its order');
          const ownSeqs = call.map((result) => result.event.seq);
          assert.deepEqual(ownSeqs, ownSeqs.map((_, k) => (ownSeqs[0] ?? 0) + k), 'one call’s events are consecutive');
        }
      });

      test('a failing call in a concurrent group fails alone, all or nothing, and leaves no gap', async () => {
        const good = await newInstance();
        const seen: StoredEvent[] = [];
        const unsubscribe = store.onAppend((events) => seen.push(...events.filter((event) => event.instanceId === good.id)));
        try {
          const missing = { instanceId: randomUUID(), event: 'MESSAGES_UPSERT' as const, data: {} };
          const calls = [
            store.append([request(good, { ok: 1 })]),
            store.append([request(good, { doomed: 1 }), missing]),
            store.append([request(good, { ok: 2 })]),
            store.append([request(good, { doomed: 2 }), request(good, { big: 10n })]),
            store.append([request(good, { ok: 3 })]),
          ];
          const settled = await Promise.allSettled(calls);
          assert.deepEqual(settled.map((outcome) => outcome.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
          const events = await allOf(good);
          assert.deepEqual(events.map((event) => event.data), [{ ok: 1 }, { ok: 2 }, { ok: 3 }], 'nothing of a failed call is stored');
          assert.deepEqual(seqs(events), [1, 2, 3]);
          assert.deepEqual(seen.map((event) => event.id), events.map((event) => event.id), 'listeners never see rolled-back events');
          assert.deepEqual(seqs([await appendOne(good)]), [4]);
        } finally {
          unsubscribe();
        }
      });

      test('rejects events of an instance that does not exist', async () => {
        await assert.rejects(store.append([{ instanceId: randomUUID(), event: 'CALL', data: {} }]));
      });

      test('an empty call appends nothing', async () => {
        assert.deepEqual(await store.append([]), []);
      });
    });

    describe('producer ids', () => {
      test('the same producer id returns the first event, marked duplicate, and appends nothing', async () => {
        const instance = await newInstance();
        const [first] = await store.append([request(instance, { v: 1 }, 'MESSAGES_UPSERT', 'p-1')]);
        const [again] = await store.append([request(instance, { v: 2 }, 'SEND_MESSAGE', 'p-1')]);
        assert.equal(first?.duplicate, false);
        assert.equal(again?.duplicate, true);
        assert.deepEqual(again?.event, first?.event, 'the first event, unchanged');
        assert.deepEqual(seqs(await allOf(instance)), [1]);
      });

      test('duplicates within one batch and across concurrent callers collapse to one event', async () => {
        const instance = await newInstance();
        const batch = await store.append([
          request(instance, { v: 1 }, 'MESSAGES_UPSERT', 'p-a'),
          request(instance, { v: 2 }, 'MESSAGES_UPSERT', 'p-b'),
          request(instance, { v: 3 }, 'MESSAGES_UPSERT', 'p-a'),
        ]);
        assert.deepEqual(batch.map((result) => result.duplicate), [false, false, true]);
        assert.equal(batch[2]?.event.id, batch[0]?.event.id);
        const racing = await Promise.all(Array.from({ length: 20 }, (_, i) => store.append([request(instance, { i }, 'CALL', 'p-race')])));
        assert.equal(racing.filter(([result]) => result?.duplicate === false).length, 1, 'exactly one caller appends');
        assert.equal(new Set(racing.map(([result]) => result?.event.id)).size, 1);
        assert.deepEqual(seqs(await allOf(instance)), [1, 2, 3]);
      });

      test('a batch of 200 mixing events with and without producer ids, and duplicates of both kinds, reads back exactly as answered', async () => {
        const instance = await newInstance();
        const [stored] = await store.append([request(instance, { stored: true }, 'MESSAGES_UPSERT', 'p-stored')]);
        // Producer ids at 0, 70 (a duplicate of the stored event), 71 and 150 (a duplicate of 71's): runs of 69, 78 and 49 around them.
        const producerIds: Record<number, string> = { 0: 'p-first', 70: 'p-stored', 71: 'p-mid', 150: 'p-mid' };
        const results = await store.append(Array.from({ length: 200 }, (_, n) => request(instance, { n }, 'MESSAGES_UPSERT', producerIds[n])));
        assert.deepEqual(
          results.flatMap((result, n) => (result.duplicate ? [n] : [])),
          [70, 150],
        );
        assert.deepEqual(results[70]?.event, stored?.event, 'the stored event, unchanged');
        assert.equal(results[150]?.event.id, results[71]?.event.id, 'the first of the batch');
        const fresh = results.filter((result) => !result.duplicate).map((result) => result.event);
        assert.deepEqual(seqs(fresh), range(198).map((n) => n + 1), 'seq goes on 2, 3… with no gap');
        assert.ok(fresh.every((event, i) => i === 0 || event.pos > (fresh[i - 1] as StoredEvent).pos), 'positions grow along the batch');
        assert.deepEqual(await allOf(instance), [stored?.event, ...fresh], 'read returns exactly what append returned');
        const byPos = await store.read({ afterPos: (fresh[0] as StoredEvent).pos - 1, limit: 1_000 });
        assert.deepEqual(byPos.filter((event) => event.instanceId === instance.id), fresh, 'each answered position holds its event');
      });

      test('producer ids are scoped to their instance; events without one never collide', async () => {
        const [a, b] = await Promise.all([newInstance(), newInstance()]);
        const [onA] = await store.append([request(a, {}, 'CALL', 'shared')]);
        const [onB] = await store.append([request(b, {}, 'CALL', 'shared')]);
        assert.equal(onB?.duplicate, false);
        assert.notEqual(onA?.event.id, onB?.event.id);
        await store.append([request(a, {}), request(a, {})]);
        assert.deepEqual(seqs(await allOf(a)), [1, 2, 3]);
      });

      test('an onAppend listener hears a duplicate’s event only once, when it was first appended', async () => {
        const instance = await newInstance();
        const heard: string[] = [];
        const unsubscribe = store.onAppend((events) => heard.push(...events.filter((e) => e.instanceId === instance.id).map((e) => e.id)));
        try {
          const [first] = await store.append([request(instance, {}, 'CALL', 'once')]);
          await store.append([request(instance, {}, 'CALL', 'once')]);
          assert.deepEqual(heard, [first?.event.id]);
        } finally {
          unsubscribe();
        }
      });
    });

    describe('Idempotency-Key claims', () => {
      const claimOf = (instance: Instance, key: string, fingerprint: string): KeyClaim => ({ instanceId: instance.id, key, fingerprint });
      /** A request's events, each with a producer id of its own (as the ingest route gives them). */
      const eventsOf = (instance: Instance, from: string, length: number) =>
        Array.from({ length }, (_, n) => request(instance, { from, n }, 'CALL', `${from}[${n}]`));
      const refusedBy = (holder: readonly AppendResult[], concurrent: boolean) => (error: unknown) => {
        assert.ok(error instanceof IdempotencyKeyTakenError, String(error));
        assert.deepEqual(error.eventIds, holder.map((result) => result.event.id), 'the refusal names the events of the request that holds the key');
        assert.equal(error.concurrent, concurrent);
        return true;
      };

      test('a key is its first request’s: the same fingerprint again is a retry, another one is refused and appends nothing; keys are scoped to their instance', async () => {
        const [a, b] = await Promise.all([newInstance(), newInstance()]);
        const first = await store.append(eventsOf(a, 'first', 2), claimOf(a, 'k', 'fp-first'));
        assert.deepEqual(first.map((result) => result.duplicate), [false, false]);
        const retry = await store.append(eventsOf(a, 'first', 2), claimOf(a, 'k', 'fp-first'));
        assert.deepEqual(retry, first.map(({ event }) => ({ event, duplicate: true })));
        await assert.rejects(store.append(eventsOf(a, 'other', 3), claimOf(a, 'k', 'fp-other')), refusedBy(first, false));
        await assert.rejects(store.append(eventsOf(a, 'first', 2), claimOf(a, 'k', 'fp-other')), refusedBy(first, false), 'a fingerprint decides, not producer ids');
        assert.deepEqual(await allOf(a), first.map((result) => result.event), 'nothing of the refused calls');
        const onB = await store.append(eventsOf(b, 'other', 3), claimOf(b, 'k', 'fp-other'));
        assert.equal(onB.length, 3, "another instance's key of the same name is another key");
      });

      test('keyHolder reads who holds a key, its fingerprint and events, and claims nothing', async () => {
        const [a, b] = await Promise.all([newInstance(), newInstance()]);
        assert.equal(await store.keyHolder(a.id, 'looked-up'), undefined, 'a free key has no holder');
        assert.equal(await store.keyHolder(a.id, 'looked-up'), undefined, 'and looking it up did not take it');
        const first = await store.append(eventsOf(a, 'first', 2), claimOf(a, 'looked-up', 'fp-first'));
        assert.deepEqual(await store.keyHolder(a.id, 'looked-up'), { fingerprint: 'fp-first', eventIds: first.map((result) => result.event.id) });
        assert.equal(await store.keyHolder(b.id, 'looked-up'), undefined, "another instance's key of the same name is another key");
      });

      test('of calls racing with one key in one commit, one appends and the others, of any length, append nothing and are refused as concurrent', async () => {
        const instance = await newInstance();
        const calls = await Promise.allSettled(range(5).map((length) => store.append(eventsOf(instance, `call-${length}`, length), claimOf(instance, 'raced', `fp-${length}`))));
        const appended = calls.flatMap((call) => (call.status === 'fulfilled' ? [call.value] : []));
        assert.equal(appended.length, 1, 'exactly one call appends');
        const holder = appended[0] as AppendResult[];
        for (const call of calls) if (call.status === 'rejected') refusedBy(holder, true)(call.reason);
        assert.deepEqual(await allOf(instance), holder.map((result) => result.event), "only the holder's events are stored");
        const other = await store.append([request(instance, { unkeyed: true })]);
        assert.equal(other[0]?.event.seq, holder.length + 1, 'the refused calls left no gap');
      });

      test('an empty call appends nothing and claims nothing: its key stays free, in its commit too, and it is not refused', async () => {
        const instance = await newInstance();
        assert.deepEqual(await store.append([], claimOf(instance, 'empty', 'fp-empty')), []);
        const first = await store.append(eventsOf(instance, 'first', 1), claimOf(instance, 'empty', 'fp-first'));
        assert.equal(first[0]?.duplicate, false, 'a request with another fingerprint takes the key');
        const [alongside, taking] = await Promise.all([
          store.append([], claimOf(instance, 'shared-commit', 'fp-empty')),
          store.append(eventsOf(instance, 'second', 1), claimOf(instance, 'shared-commit', 'fp-second')),
        ]);
        assert.deepEqual(alongside, []);
        assert.equal(taking[0]?.duplicate, false, 'a request in the same commit takes the key');
        assert.deepEqual(await store.append([], claimOf(instance, 'empty', 'fp-other')), [], 'a held key refuses nothing to a call that stores nothing');
        await assert.rejects(store.append(eventsOf(instance, 'other', 1), claimOf(instance, 'empty', 'fp-other')), refusedBy(first, false));
      });

      test('a key is held while retention keeps an event of its request; a retry appends again those it deleted, and the key then names them', async () => {
        const instance = await newInstance();
        const first = await store.append(eventsOf(instance, 'first', 2), claimOf(instance, 'kept', 'fp-first'));
        const [gone, kept] = first.map((result) => result.event) as [StoredEvent, StoredEvent];
        const destination = unique('dest');
        await store.saveDeliveries(destination, [{ destination, pos: kept.pos, eventId: kept.id, instanceId: instance.id, event: kept.event, status: 'pending', attempts: [], nextAttemptAt: Date.now() }]);
        await store.prune(new Date(Date.now() + 60_000));
        assert.deepEqual(await allOf(instance), [kept], 'the pending delivery keeps its event, and retention deleted the other');
        await assert.rejects(store.append(eventsOf(instance, 'other', 1), claimOf(instance, 'kept', 'fp-other')), refusedBy(first, false));
        const retry = await store.append(eventsOf(instance, 'first', 2), claimOf(instance, 'kept', 'fp-first'));
        assert.deepEqual(retry.map((result) => result.duplicate), [false, true]);
        assert.notEqual(retry[0]?.event.id, gone.id);
        await assert.rejects(store.append(eventsOf(instance, 'other', 1), claimOf(instance, 'kept', 'fp-other')), refusedBy(retry, false));
      });

      test('retention frees a key once every event of its request is deleted', async () => {
        const instance = await newInstance();
        await store.append(eventsOf(instance, 'first', 2), claimOf(instance, 'freed', 'fp-first'));
        await store.prune(new Date(Date.now() + 60_000));
        const next = await store.append(eventsOf(instance, 'next', 1), claimOf(instance, 'freed', 'fp-next'));
        assert.equal(next[0]?.duplicate, false, 'a new request under the key is appended');
        await assert.rejects(store.append(eventsOf(instance, 'first', 2), claimOf(instance, 'freed', 'fp-first')), refusedBy(next, false));
      });
    });

    describe('read', () => {
      /** Two instances, interleaved events of three kinds, in two bursts separated in time. */
      async function fixture() {
        const [a, b] = await Promise.all([newInstance(), newInstance()]);
        const kinds: EventKey[] = ['MESSAGES_UPSERT', 'SEND_MESSAGE', 'PRESENCE_UPDATE'];
        const burst = async (burstNo: number) => {
          const events: StoredEvent[] = [];
          for (let i = 0; i < 6; i++) events.push(await appendOne(i % 2 ? b : a, { burstNo, i }, kinds[i % 3]));
          return events;
        };
        const first = await burst(1);
        await new Promise((resolve) => setTimeout(resolve, 25));
        const second = await burst(2);
        return { a, b, first, second, all: [...first, ...second] };
      }

      test('by position range, oldest first, up to a limit', async () => {
        const { all } = await fixture();
        const start = (all[0]?.pos ?? 0) - 1;
        const end = all.at(-1)?.pos ?? 0;
        assert.deepEqual(await store.read({ afterPos: start, untilPos: end, limit: 1000 }), all);
        assert.deepEqual(await store.read({ afterPos: start, untilPos: end, limit: 4 }), all.slice(0, 4));
        assert.deepEqual(await store.read({ afterPos: all[4]?.pos, untilPos: end, limit: 1000 }), all.slice(5));
        assert.deepEqual(await store.read({ afterPos: start, untilPos: all[2]?.pos, limit: 1000 }), all.slice(0, 3));
        assert.deepEqual(await store.read({ afterPos: end, untilPos: end, limit: 1000 }), []);
      });

      test('by instance and by event names', async () => {
        const { a, b, all } = await fixture();
        assert.deepEqual(await allOf(a), all.filter((event) => event.instanceId === a.id));
        assert.deepEqual(await allOf(b), all.filter((event) => event.instanceId === b.id));
        const wanted = new Set<EventKey>(['SEND_MESSAGE', 'PRESENCE_UPDATE']);
        assert.deepEqual(
          await store.read({ instanceId: a.id, events: [...wanted], limit: 1000 }),
          all.filter((event) => event.instanceId === a.id && wanted.has(event.event)),
        );
        assert.deepEqual(await store.read({ instanceId: b.id, events: ['CALL'], limit: 1000 }), []);
        assert.deepEqual(await store.read({ instanceId: b.id, events: [], limit: 1000 }), await allOf(b), 'an empty list filters nothing');
      });

      test('by time range, inclusive', async () => {
        const { a, first, second } = await fixture();
        const onA = (events: StoredEvent[]) => events.filter((event) => event.instanceId === a.id);
        const boundary = second[0]?.createdAt ?? '';
        assert.deepEqual(await store.read({ instanceId: a.id, fromTime: boundary, limit: 1000 }), onA(second));
        assert.deepEqual(await store.read({ instanceId: a.id, toTime: first.at(-1)?.createdAt ?? '', limit: 1000 }), onA(first));
        const exact = first[0]?.createdAt ?? '';
        const sameMs = onA(first).filter((event) => event.createdAt === exact);
        assert.deepEqual(await store.read({ instanceId: a.id, fromTime: exact, toTime: exact, limit: 1000 }), sameMs);
      });

      test('times never go back along the log, even when the clock steps back, so time ranges stay ranges of the log', async (t) => {
        const instance = await newInstance();
        const before = await appendOne(instance);
        const stepBack = Date.parse(before.createdAt) - 3_600_000;
        t.mock.method(Date, 'now', () => stepBack);
        const during = [await appendOne(instance), await appendOne(instance)];
        t.mock.restoreAll();
        const after = await appendOne(instance);
        const times = [before, ...during, after].map((event) => Date.parse(event.createdAt));
        assert.deepEqual([...times].sort((x, y) => x - y), times, 'event times follow log order');
        assert.deepEqual(await store.read({ instanceId: instance.id, fromTime: before.createdAt, limit: 10 }), [before, ...during, after]);
        assert.deepEqual(await store.read({ instanceId: instance.id, toTime: new Date(stepBack).toISOString(), limit: 10 }), []);
      });

      test('getByIds returns the known ones in log order', async () => {
        const { all } = await fixture();
        const picked = [all[7], all[1], all[4]].map((event) => event?.id ?? '');
        const found = await store.getByIds([...picked, 'evt_00000000000000000000000000']);
        assert.deepEqual(found, [all[1], all[4], all[7]]);
        assert.deepEqual(await store.getByIds([]), []);
      });

      test('head and tail positions bound the log', async () => {
        const instance = await newInstance();
        const event = await appendOne(instance);
        assert.equal(await store.headPosition(), event.pos);
        const tail = await store.tailPosition();
        assert.ok(tail !== undefined && tail <= event.pos);
      });

      test("an instance's last position is its newest event's, also once the instance is deleted; 0 with none", async () => {
        const [gone, other, empty] = await Promise.all([newInstance(), newInstance(), newInstance()]);
        await appendOne(gone);
        const removal = await appendOne(gone, null, 'REMOVE_INSTANCE');
        await appendOne(other);
        await store.deleteInstance(gone.id);
        assert.equal(await store.lastPositionOf(gone.id), removal.pos);
        assert.equal(await store.lastPositionOf(empty.id), 0);
        assert.equal(await store.lastPositionOf(randomUUID()), 0);
      });
    });

    describe('retention', () => {
      const record = (event: StoredEvent, destination: string, status: DeliveryRecord['status']): DeliveryRecord => ({
        destination,
        pos: event.pos,
        eventId: event.id,
        instanceId: event.instanceId,
        event: event.event,
        status,
        attempts: [{ at: new Date().toISOString(), durationMs: 3, statusCode: 500, error: 'HTTP 500' }],
        nextAttemptAt: status === 'pending' ? Date.now() + 60_000 : null,
      });

      test('prune removes events older than the date, except those a pending delivery needs', async () => {
        const instance = await newInstance();
        const events = [await appendOne(instance), await appendOne(instance), await appendOne(instance)];
        const destination = unique('dest');
        await store.saveDeliveries(destination, [record(events[1] as StoredEvent, destination, 'pending')], events[2]?.pos);
        assert.equal(await store.prune(new Date(Date.now() - 3_600_000)), 0, 'nothing is that old');
        assert.deepEqual(await allOf(instance), events);
        const removed = await store.prune(new Date(Date.now() + 60_000));
        assert.ok(removed >= 2);
        assert.deepEqual(await allOf(instance), [events[1]], 'the pending delivery keeps its event');
        assert.equal((await store.pendingDeliveries(destination, 10)).length, 1);
      });

      test('countBetween counts the events held in a range of positions: after a prune, fewer than the positions, even where a pending delivery kept the first', async () => {
        const instance = await newInstance();
        const events = [await appendOne(instance), await appendOne(instance), await appendOne(instance), await appendOne(instance)];
        const [first, kept, , last] = events as [StoredEvent, StoredEvent, StoredEvent, StoredEvent];
        assert.equal(await store.countBetween(first.pos - 1, last.pos), 4);
        assert.equal(await store.countBetween(first.pos, last.pos - 1), 2);
        assert.equal(await store.countBetween(last.pos, last.pos), 0, 'an empty range');
        const destination = unique('dest');
        await store.saveDeliveries(destination, [record(kept, destination, 'pending')]);
        await store.prune(new Date(Date.now() + 60_000));
        assert.equal(await store.countBetween(first.pos, last.pos), 1, 'only the event the pending delivery keeps');
      });

      test("countOfInstance counts one instance's events in a range of positions, not the others'", async () => {
        const [instance, other] = [await newInstance(), await newInstance()];
        const first = await appendOne(instance);
        await appendOne(other);
        await appendOne(instance);
        const last = await appendOne(other);
        assert.equal(await store.countOfInstance(instance.id, first.pos - 1, last.pos), 2);
        assert.equal(await store.countOfInstance(instance.id, first.pos, last.pos), 1);
        assert.equal(await store.countOfInstance(other.id, first.pos, last.pos - 1), 1);
        assert.equal(await store.countOfInstance(randomUUID(), 0, last.pos), 0);
      });

      test('prune drops finished delivery records but keeps pending ones', async () => {
        const instance = await newInstance();
        const [done, failed, pending] = [await appendOne(instance), await appendOne(instance), await appendOne(instance)];
        const destination = unique('dest');
        await store.saveDeliveries(destination, [
          record(done as StoredEvent, destination, 'delivered'),
          record(failed as StoredEvent, destination, 'failed'),
          record(pending as StoredEvent, destination, 'pending'),
        ]);
        await store.prune(new Date(Date.now() + 60_000));
        assert.deepEqual((await store.listDeliveries({ destination, limit: 10 })).map((r) => r.status), ['pending']);
      });

      test('positions and sequence numbers never go back after a prune', async () => {
        const instance = await newInstance();
        const before = [await appendOne(instance), await appendOne(instance)];
        await store.prune(new Date(Date.now() + 60_000));
        const next = await appendOne(instance);
        assert.ok(next.pos > (before[1]?.pos ?? 0));
        assert.equal(next.seq, 3);
        assert.ok((await store.headPosition()) >= next.pos);
      });
    });

    describe('delivery ledger', () => {
      const record = (pos: number, overrides: Partial<DeliveryRecord> = {}): DeliveryRecord => ({
        destination: 'unset',
        pos,
        eventId: `evt_${pos}`,
        instanceId: 'i',
        event: 'MESSAGES_UPSERT',
        status: 'pending',
        attempts: [],
        nextAttemptAt: null,
        ...overrides,
      });

      test('a cursor is unset until saved, then round-trips with the records written alongside', async () => {
        const destination = unique('dest');
        assert.equal(await store.getCursor(destination), undefined);
        await store.saveDeliveries(destination, [], 42);
        assert.equal(await store.getCursor(destination), 42);
        const records = [
          record(43, { destination, status: 'delivered', attempts: [{ at: '2030-01-01T00:00:00.000Z', durationMs: 12, statusCode: 200 }] }),
          record(44, { destination, nextAttemptAt: 1_900_000_000_000, attempts: [{ at: '2030-01-01T00:00:01.000Z', durationMs: 5, error: 'ECONNREFUSED' }] }),
        ];
        await store.saveDeliveries(destination, records, 44);
        assert.equal(await store.getCursor(destination), 44);
        assert.deepEqual(await store.listDeliveries({ destination, limit: 10 }), records);
        await store.saveDeliveries(destination, [], undefined);
        assert.equal(await store.getCursor(destination), 44, 'no cursor leaves it unchanged');
      });

      test('a record is updated in place by destination and position', async () => {
        const destination = unique('dest');
        await store.saveDeliveries(destination, [record(7, { destination, nextAttemptAt: 5 })]);
        const done = record(7, { destination, status: 'delivered', attempts: [{ at: '2030-01-01T00:00:00.000Z', durationMs: 1 }] });
        await store.saveDeliveries(destination, [done]);
        assert.deepEqual(await store.listDeliveries({ destination, limit: 10 }), [done]);
        assert.deepEqual(await store.pendingDeliveries(destination, 10), []);
      });

      test('list filters by status, event and position, oldest first, up to a limit', async () => {
        const destination = unique('dest');
        const other = unique('dest');
        const records = [
          record(1, { destination, status: 'failed' }),
          record(2, { destination }),
          record(3, { destination, event: 'SEND_MESSAGE' }),
          record(4, { destination, status: 'delivered' }),
          record(5, { destination, event: 'SEND_MESSAGE', status: 'failed' }),
        ];
        await store.saveDeliveries(destination, [...records].reverse());
        await store.saveDeliveries(other, [record(2, { destination: other })]);
        const positions = async (query: Partial<Parameters<Store['listDeliveries']>[0]>) =>
          (await store.listDeliveries({ destination, limit: 100, ...query })).map((r) => r.pos);
        assert.deepEqual(await positions({}), [1, 2, 3, 4, 5]);
        assert.deepEqual(await positions({ status: 'failed' }), [1, 5]);
        assert.deepEqual(await positions({ event: 'SEND_MESSAGE' }), [3, 5]);
        assert.deepEqual(await positions({ status: 'pending', event: 'SEND_MESSAGE' }), [3]);
        assert.deepEqual(await positions({ afterPos: 2 }), [3, 4, 5]);
        assert.deepEqual(await positions({ limit: 2 }), [1, 2]);
        assert.deepEqual((await store.pendingDeliveries(destination, 1)).map((r) => r.pos), [2]);
        assert.deepEqual((await store.pendingDeliveries(destination, 10)).map((r) => r.pos), [2, 3]);
      });

      test('the failed deliveries of several destinations: up to a number of each, oldest first, destination by destination', async () => {
        const [first, second, none] = [unique('dest'), unique('dest'), unique('dest')];
        await store.saveDeliveries(first, [4, 1, 3, 2].map((pos) => record(pos, { destination: first, status: 'failed' })));
        await store.saveDeliveries(first, [record(0, { destination: first, status: 'delivered' })]);
        await store.saveDeliveries(second, [record(9, { destination: second, status: 'failed' }), record(8, { destination: second })]);
        const listed = async (destinations: string[], perDestination: number) =>
          (await store.failedDeliveries(destinations, perDestination)).map((r) => `${r.destination === first ? 'first' : 'second'}@${r.pos}`);
        assert.deepEqual(await listed([second, none, first], 3), ['second@9', 'first@1', 'first@2', 'first@3']);
        assert.deepEqual(await listed([first, second, first], 10), ['first@1', 'first@2', 'first@3', 'first@4', 'second@9'], 'a destination named twice is listed once');
        assert.deepEqual(await store.failedDeliveries([], 10), []);
        assert.deepEqual((await store.failedDeliveries([second], 1))[0], record(9, { destination: second, status: 'failed' }));
      });

      test("ledgerFigures: each destination's cursor, its pending records at or behind it, and its dead letters", async () => {
        const [kept, never] = [unique('dest'), unique('dest')];
        await store.saveDeliveries(
          kept,
          [
            record(1, { destination: kept, status: 'failed' }),
            record(2, { destination: kept }),
            record(3, { destination: kept, status: 'delivered' }),
            record(4, { destination: kept, status: 'failed' }),
            record(6, { destination: kept }),
          ],
          5,
        );
        const figures = await store.ledgerFigures([kept, never, kept]);
        assert.deepEqual(Object.fromEntries(figures), {
          [kept]: { cursor: 5, pending: 1, failed: 2 },
          [never]: { cursor: undefined, pending: 0, failed: 0 },
        });
        assert.equal((await store.ledgerFigures([])).size, 0);
      });

      test('hundreds of records written at once, by several destinations, land as written; the last write of a position wins', async () => {
        const destination = unique('dest');
        const other = unique('dest');
        const many = Array.from({ length: 150 }, (_, k) => record(k + 1, { destination, status: 'delivered', attempts: [{ at: '2030-01-01T00:00:00.000Z', durationMs: k }] }));
        // Position 10 goes pending, then (later in the same save) failed; position 149 is written twice in one call.
        const writes = [
          store.saveDeliveries(destination, [record(10, { destination, nextAttemptAt: 1 }), ...many.slice(0, 100)], 100),
          store.saveDeliveries(other, [record(3, { destination: other, status: 'failed' })], 3),
          store.saveDeliveries(destination, [...many.slice(100), record(149, { destination, status: 'failed' }), record(10, { destination, status: 'failed' })], 150),
        ];
        await Promise.all(writes);
        const written = await store.listDeliveries({ destination, limit: 1000 });
        assert.equal(written.length, 150);
        assert.deepEqual(written.map((r) => r.pos), many.map((r) => r.pos));
        assert.deepEqual(written.filter((r) => r.status === 'failed').map((r) => r.pos), [10, 149]);
        assert.deepEqual(written[50], many[50]);
        assert.equal(await store.getCursor(destination), 150);
        assert.deepEqual((await store.listDeliveries({ destination: other, limit: 10 })).map((r) => r.status), ['failed']);
        assert.equal(await store.getCursor(other), 3);
      });

      test('deleting a destination forgets its cursor and records, and only its own', async () => {
        const destination = unique('dest');
        const other = unique('dest');
        await store.saveDeliveries(destination, [record(1, { destination })], 1);
        await store.saveDeliveries(other, [record(1, { destination: other })], 9);
        await store.deleteDestination(destination);
        assert.equal(await store.getCursor(destination), undefined);
        assert.deepEqual(await store.listDeliveries({ destination, limit: 10 }), []);
        assert.equal(await store.getCursor(other), 9);
        assert.equal((await store.listDeliveries({ destination: other, limit: 10 })).length, 1);
      });

      test('deleting a destination with its children forgets `<id>:…` too, and not an id that only starts alike', async () => {
        const parent = unique('feed');
        const children = [`${parent}:a`, `${parent}:b:c`];
        const alike = [`${parent}x`, `${parent};`, `${parent}x:a`];
        for (const destination of [parent, ...children, ...alike]) await store.saveDeliveries(destination, [record(1, { destination })], 5);
        // A child with records and no cursor yet.
        const uncursored = `${parent}:d`;
        await store.saveDeliveries(uncursored, [record(2, { destination: uncursored })]);
        await store.deleteDestination(parent, { children: true });
        for (const destination of [parent, ...children, uncursored]) {
          assert.equal(await store.getCursor(destination), undefined, destination);
          assert.deepEqual(await store.listDeliveries({ destination, limit: 10 }), [], destination);
        }
        for (const destination of alike) {
          assert.equal(await store.getCursor(destination), 5, destination);
          assert.equal((await store.listDeliveries({ destination, limit: 10 })).length, 1, destination);
        }
      });

      test('the children of a destination are the `<id>:…` ids with a cursor, not ids that only start alike', async () => {
        const parent = unique('feed');
        for (const destination of [parent, `${parent}:a`, `${parent}:b:c`, `${parent}x`, `${parent};`, `${parent}x:a`]) await store.saveDeliveries(destination, [], 3);
        await store.saveDeliveries(`${parent}:records-only`, [record(1, { destination: `${parent}:records-only` })]);
        assert.deepEqual((await store.listChildren(parent)).sort(), [`${parent}:a`, `${parent}:b:c`]);
        assert.deepEqual(await store.listChildren(unique('none')), []);
      });
    });

    describe('onAppend', () => {
      test('listeners hear every committed event once, in log order, readable when heard', async () => {
        const instance = await newInstance();
        const heard: StoredEvent[] = [];
        const readable: Array<Promise<boolean>> = [];
        const unsubscribe = store.onAppend((events) => {
          const mine = events.filter((event) => event.instanceId === instance.id);
          heard.push(...mine);
          if (mine.length) readable.push(store.getByIds(mine.map((e) => e.id)).then((found) => found.length === mine.length));
          for (let i = 1; i < events.length; i++) assert.ok((events[i]?.pos ?? 0) > (events[i - 1]?.pos ?? 0));
        });
        try {
          const results = await Promise.all(Array.from({ length: 30 }, (_, i) => store.append([request(instance, { i }), request(instance, { i, k: 2 })])));
          assert.deepEqual(heard, await allOf(instance));
          assert.deepEqual(
            heard.map((event) => event.id).sort(),
            results.flat().map((result) => result.event.id).sort(),
          );
          assert.ok((await Promise.all(readable)).every(Boolean), 'a listener can read what it hears');
        } finally {
          unsubscribe();
        }
        await appendOne(instance);
        assert.equal(heard.length, 60, 'an unsubscribed listener hears nothing more');
      });
    });

    describe('instances', () => {
      test('create, get by name and id, list', async () => {
        const id = randomUUID();
        const created = await newInstance({ id, integration: 'SANDBOX', number: '5511999990000', channels: { webhook: { url: 'http://x' } } });
        assert.equal(created.id, id);
        assert.equal(created.integration, 'SANDBOX');
        assert.equal(created.number, '5511999990000');
        assert.equal(created.state, 'close');
        assert.equal(created.ownerJid, null);
        assert.equal(created.profileName, null);
        assert.ok(!Number.isNaN(Date.parse(created.createdAt)));
        assert.deepEqual(created.channels, { webhook: { url: 'http://x' } });
        assert.equal(created.version, 1);
        assert.deepEqual(await store.getInstance(created.name), created);
        assert.deepEqual(await store.getInstanceById(id), created);
        assert.deepEqual((await store.listInstances()).find((instance) => instance.id === id), created);
        assert.equal(await store.getInstance(unique('missing')), undefined);
        assert.equal(await store.getInstanceById(randomUUID()), undefined);
      });

      test('names are unique', async () => {
        const existing = await newInstance();
        await assert.rejects(newInstance({ name: existing.name }));
      });

      test('update patches only the given fields', async () => {
        const instance = await newInstance({ number: '5511999990001' });
        const open = await store.updateInstance(instance.id, { state: 'open', ownerJid: '5511999990001@s.whatsapp.net', profileName: 'Ana' });
        assert.deepEqual(open, { ...instance, state: 'open', ownerJid: '5511999990001@s.whatsapp.net', profileName: 'Ana', version: 2 });
        const closed = await store.updateInstance(instance.id, { state: 'close' });
        assert.deepEqual(closed, { ...open, state: 'close', version: 3 });
        assert.deepEqual(await store.updateInstance(instance.id, {}), closed, 'an empty patch writes nothing');
        await store.deleteInstance(instance.id);
        assert.equal(await store.updateInstance(instance.id, { state: 'open' }), undefined, 'a deleted instance is not found');
        assert.equal(await store.updateInstance(instance.id, {}), undefined, 'nor with an empty patch');
      });

      test('an owner JID is one instance’s: of two updates giving it to different instances at once, one is refused and writes nothing', async () => {
        const jid = `55${randomInt(10 ** 10, 10 ** 11)}@s.whatsapp.net`;
        const [a, b] = await Promise.all([newInstance(), newInstance()]);
        const outcomes = await Promise.allSettled([a, b].map((instance) => store.updateInstance(instance.id, { state: 'open', ownerJid: jid })));
        const kept = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
        const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
        assert.equal(kept.length, 1, 'one update gives the JID');
        assert.ok(refused[0] instanceof OwnerJidTakenError, `the other is refused as taken (${String(refused[0])})`);
        assert.equal(refused[0].ownerJid, jid);
        const loser = (kept[0]?.id === a.id ? b : a) as Instance;
        assert.deepEqual(await store.getInstanceById(loser.id), loser, 'nothing of the refused update is written, its state neither');
        const holder = kept[0] as Instance;
        assert.deepEqual(await store.updateInstance(holder.id, { ownerJid: jid, profileName: 'again' }), { ...holder, profileName: 'again', version: holder.version + 1 }, 'the holder may write it again');
        await store.deleteInstance(holder.id);
        assert.equal((await store.updateInstance(loser.id, { ownerJid: jid }))?.ownerJid, jid, 'a deleted holder frees it');
      });

      test('a token is one instance’s: of two creations with it at once, one is refused (TokenTakenError) and writes nothing', async () => {
        const token = randomUUID();
        const names = [unique('token'), unique('token')];
        const outcomes = await Promise.allSettled(names.map((name) => newInstance({ name, token })));
        const kept = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
        const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
        assert.equal(kept.length, 1, 'one creation keeps the token');
        assert.ok(refused[0] instanceof TokenTakenError, `the other is refused as taken (${String(refused[0])})`);
        const loser = names.find((name) => name !== kept[0]?.name) as string;
        assert.equal(await store.getInstance(loser), undefined, 'nothing of the refused creation is written');
        await store.deleteInstance((kept[0] as Instance).id);
        assert.equal((await newInstance({ name: loser, token })).token, token, 'a deleted holder frees it');
      });

      test('channel configs are stored as JSON, one key per channel', async () => {
        const instance = await newInstance();
        const webhook = { enabled: true, url: 'https://example.com/hook', events: ['MESSAGES_UPSERT'], headers: { Authorization: 'Bearer x' }, byEvents: false };
        const withWebhook = await store.editChannels(instance.id, () => ({ webhook }));
        assert.deepEqual(withWebhook?.channels, { webhook });
        const both = await store.editChannels(instance.id, () => ({ rabbitmq: { enabled: true, events: [] } }));
        assert.deepEqual(both?.channels, { webhook, rabbitmq: { enabled: true, events: [] } });
        const replaced = await store.editChannels(instance.id, () => ({ webhook: { enabled: false } }));
        assert.deepEqual(replaced?.channels, { webhook: { enabled: false }, rabbitmq: { enabled: true, events: [] } });
        assert.deepEqual((await store.getInstance(instance.name))?.channels, replaced?.channels);
      });

      test('channel edits are made to what is stored: concurrent ones are all kept, one that throws changes nothing', async () => {
        const instance = await newInstance({ channels: { webhook: { url: 'http://x' } } });
        const listed = (stored: Instance | undefined) => (stored?.channels.list as number[] | undefined) ?? [];
        const edits = await Promise.all(range(20).map((n) => store.editChannels(instance.id, (stored) => ({ list: [...listed(stored), n] }))));
        const stored = await store.getInstanceById(instance.id);
        assert.deepEqual([...listed(stored)].sort((a, b) => a - b), range(20), 'each edit saw the ones before it');
        assert.deepEqual(stored?.channels.webhook, { url: 'http://x' }, 'the configurations an edit does not return are kept');
        assert.deepEqual(edits.find((edited) => listed(edited).length === 20), stored, 'an edit answers the instance as it left it');
        assert.deepEqual(edits.map((edited) => edited?.version).sort((a, b) => (a ?? 0) - (b ?? 0)), range(20).map((n) => n + 1), 'each edit wrote once, raising the version');
        const refused = new Error('refused');
        await assert.rejects(store.editChannels(instance.id, () => { throw refused; }), (error) => error === refused);
        assert.deepEqual(await store.getInstanceById(instance.id), stored, 'an edit that throws changes nothing');
        assert.equal(await store.editChannels(randomUUID(), () => ({ list: [] })), undefined, 'no such instance');
      });

      test('the version counts the writes of an instance (Instance.version), not the events appended to it', async () => {
        const instance = await newInstance();
        await appendOne(instance);
        assert.equal((await store.getInstanceById(instance.id))?.version, 1, 'an append moves the sequence only');
        assert.equal((await store.updateInstance(instance.id, { state: 'open' }))?.version, 2);
        assert.equal((await store.updateInstance(instance.id, { state: 'open' }))?.version, 3, 'a write of the same value is a write');
        assert.equal((await store.editChannels(instance.id, () => ({ webhook: { enabled: false } })))?.version, 4);
        assert.deepEqual((await store.listInstances()).find((listed) => listed.id === instance.id)?.version, 4);
      });

      test('a deleted instance is gone, its events stay in the log until retention', async () => {
        const instance = await newInstance();
        const event = await appendOne(instance, {}, 'REMOVE_INSTANCE');
        await store.deleteInstance(instance.id);
        assert.equal(await store.getInstance(instance.name), undefined);
        assert.equal(await store.getInstanceById(instance.id), undefined);
        assert.ok(!(await store.listInstances()).some((i) => i.id === instance.id));
        assert.deepEqual(await store.getByIds([event.id]), [event], 'destinations still deliver the removal events');
        await assert.rejects(store.append([request(instance)]), 'no more events for it');
        const reborn = await newInstance({ name: instance.name });
        assert.deepEqual(seqs([await appendOne(reborn)]), [1], 'a new instance with the same name starts its own sequence');
      });
    });

    test('ping answers while the store is open', async () => {
      await store.ping();
    });

    describe('reopening', () => {
      const newInstanceIn = (other: Store) =>
        other.createInstance({ id: randomUUID(), name: unique('reopen'), token: randomUUID(), integration: 'INGEST', number: null, channels: {} });

      test('a reopened store has every event, and the sequence goes on', async () => {
        let other = await open();
        const instance = await newInstanceIn(other);
        const [first] = await other.append([request(instance, { n: 1 }, 'CALL')]);
        await other.close();
        other = await open();
        try {
          assert.deepEqual(await other.getByIds([first?.event.id ?? '']), [first?.event]);
          const [second] = await other.append([request(instance, { n: 2 }, 'CALL')]);
          assert.equal(second?.event.seq, 2, 'the sequence continues after a reopen');
          assert.ok((second?.event.pos ?? 0) > (first?.event.pos ?? 0));
        } finally {
          await other.close();
        }
      });

      test('appends and delivery writes still queued at close are committed, not lost', async () => {
        const other = await open();
        const instance = await newInstanceIn(other);
        const destination = unique('dest');
        const pending = other.append([request(instance, {}, 'CALL')]);
        const saved = other.saveDeliveries(destination, [], 7);
        await other.close();
        const [result] = await pending;
        await saved;
        const reopened = await open();
        try {
          assert.deepEqual(await reopened.getByIds([result?.event.id ?? '']), [result?.event]);
          assert.equal(await reopened.getCursor(destination), 7);
        } finally {
          await reopened.close();
        }
      });
    });
  });
}

/**
 * After the owner_jid migration, over a database where `second` and then `first` (created earlier) had
 * x@s.whatsapp.net and `alone` had y@s.whatsapp.net: the number stays with the first created, and the
 * store now refuses it to the other.
 */
export async function assertNumberKeptByFirst(store: Store): Promise<void> {
  const listed = await store.listInstances();
  const owners = Object.fromEntries(listed.map((instance) => [instance.id, instance.ownerJid]));
  assert.deepEqual(owners, { first: 'x@s.whatsapp.net', second: null, alone: 'y@s.whatsapp.net' });
  assert.deepEqual(listed.map((instance) => instance.version), [1, 1, 1], 'rows written before versions were kept start at 1');
  await assert.rejects(store.updateInstance('second', { ownerJid: 'x@s.whatsapp.net' }), OwnerJidTakenError);
}
