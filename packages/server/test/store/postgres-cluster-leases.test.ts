import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { LeaseLostError } from '../../src/store/lease-lost-error.ts';
import type { DeliveryRecord } from '../../src/store/types.ts';
import { POSTGRES_SERVER, postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { eventually } from '../helpers/pombo-harness.ts';

/** Two stores on one schema stand for two nodes of a cluster. */
const { uri, schema, service } = await postgresTestSchema();

const failedDelivery = (destination: string, pos: number): DeliveryRecord => ({
  destination,
  pos,
  eventId: `evt_${pos}`,
  instanceId: 'i',
  event: 'CALL',
  status: 'failed',
  attempts: [],
  nextAttemptAt: null,
});

/** The statements PostgreSQL is sent (by any pg client of this process) while `run` runs. */
async function statementsSent(run: () => Promise<unknown>): Promise<string[]> {
  const sent: string[] = [];
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const [config] = args as [string | { text: string }];
    sent.push(typeof config === 'string' ? config : config.text);
    return (query as (...args: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    await run();
  } finally {
    pg.Client.prototype.query = query;
  }
  return sent;
}

describe('PostgreSQL leases of a cluster', { skip: 'skip' in service ? service.skip : false }, () => {
  let a: PostgresStore;
  let b: PostgresStore;
  before(async () => {
    [a, b] = await Promise.all([PostgresStore.open(uri), PostgresStore.open(uri)]);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  test('nodes claiming at once share the destinations without overlap (SKIP LOCKED)', async () => {
    const destinations = Array.from({ length: 20 }, () => `webhook:${randomUUID()}`);
    const [ofA, ofB] = await Promise.all([a.cluster.claim('node-a', destinations, 10, 30_000), b.cluster.claim('node-b', destinations, 10, 30_000)]);
    assert.equal(ofA.size + ofB.size, 20);
    assert.ok([...ofA.keys()].every((destination) => !ofB.has(destination)), 'no destination leased twice');
    assert.equal((await a.cluster.claim('node-c', destinations, 20, 30_000)).size, 0, 'held leases are not free for another node');
  });

  test('a node whose lease expired and was taken cannot write the cursor or records: the epoch fences it', async () => {
    const destination = `webhook:${randomUUID()}`;
    const first = await a.cluster.claim('node-a', [destination], 1, 300);
    const epochA = first.get(destination) as number;
    a.cluster.fence(destination, 'node-a', epochA);
    await a.saveDeliveries(destination, [], 10);
    assert.equal(await a.getCursor(destination), 10, 'the holder writes its cursor');

    assert.equal((await b.cluster.claim('node-b', [destination], 1, 30_000)).size, 0, 'a live lease is not taken');
    await new Promise((resolve) => setTimeout(resolve, 400));
    const taken = await b.cluster.claim('node-b', [destination], 1, 30_000);
    const epochB = taken.get(destination) as number;
    assert.equal(epochB, epochA + 1, 'a claim raises the epoch');
    b.cluster.fence(destination, 'node-b', epochB);

    // The paused node wakes up and writes with the epoch it had: refused, and nothing of it is stored.
    const record = { destination, pos: 11, eventId: 'evt_x', instanceId: 'i', event: 'CALL' as const, status: 'failed' as const, attempts: [], nextAttemptAt: null };
    await assert.rejects(a.saveDeliveries(destination, [record], 99), LeaseLostError);
    assert.equal(await b.getCursor(destination), 10, 'the stale cursor write was rejected');
    assert.deepEqual(await b.listDeliveries({ destination, limit: 10 }), [], 'the stale record was rejected');
    // Another destination's write in the same commit is not affected.
    const other = `webhook:${randomUUID()}`;
    await Promise.all([a.saveDeliveries(other, [], 5), assert.rejects(a.saveDeliveries(destination, [], 100), LeaseLostError)]);
    assert.equal(await a.getCursor(other), 5);

    await b.saveDeliveries(destination, [], 20);
    assert.equal(await b.getCursor(destination), 20, 'the new holder writes');
    const renewed = await a.cluster.renew('node-a', new Map([[destination, epochA]]), 30_000);
    assert.equal(renewed.size, 0, 'the old holder learns on renewal that the lease is gone');
    assert.deepEqual(await b.cluster.renew('node-b', new Map([[destination, epochB]]), 30_000), new Map([[destination, epochB]]));
  });

  test('one ledger commit refuses the writes whose lease moved, nothing of them stored, and stores the rest, in one statement', async () => {
    const [lost, kept, unfenced] = [`webhook:${randomUUID()}`, `webhook:${randomUUID()}`, `webhook:${randomUUID()}`];
    const subscriber = `realtime:${randomUUID()}:orders`;
    const held = await a.cluster.claim('node-a', [lost, kept], 2, 30_000);
    for (const [destination, epoch] of held) a.cluster.fence(destination, 'node-a', epoch);
    // A subscriber taken again on this node whose fence still has the older epoch: its writes stay valid.
    a.cluster.fenceSubscriber(subscriber, 'node-a', (await a.cluster.takeOverSubscribers('node-a', [subscriber])).get(subscriber) as number);
    await a.cluster.takeOverSubscribers('node-a', [subscriber]);
    // Node B takes `lost` (freed by node A's leave, as after an expiry).
    await a.cluster.release('node-a', new Map([[lost, held.get(lost) as number]]));
    assert.equal((await b.cluster.claim('node-b', [lost], 1, 30_000)).size, 1);

    const refused: Array<[string, number, string]> = [];
    a.cluster.onFencedWrite = (id, epoch, kind) => refused.push([id, epoch, kind]);
    let outcomes: PromiseSettledResult<void>[] = [];
    try {
      const sent = await statementsSent(async () => {
        outcomes = await Promise.allSettled([
          a.saveDeliveries(kept, [failedDelivery(kept, 1), failedDelivery(kept, 2)], 2),
          a.saveDeliveries(lost, [failedDelivery(lost, 1)], 1),
          a.saveDeliveries(unfenced, [failedDelivery(unfenced, 1)], 1),
          a.saveDeliveries(subscriber, [], 7),
        ]);
      });
      assert.equal(sent.length, 1, `one statement for the whole commit, sent: ${sent.join(' | ')}`);
    } finally {
      a.cluster.onFencedWrite = undefined;
    }
    assert.deepEqual(
      outcomes.map((outcome) => outcome.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    assert.ok((outcomes[1] as PromiseRejectedResult).reason instanceof LeaseLostError);
    assert.deepEqual(refused, [[lost, held.get(lost), 'destination']], 'the refused write is told with the epoch it held');
    assert.equal(await b.getCursor(lost), undefined, 'no cursor of the refused write');
    assert.deepEqual(await b.listDeliveries({ destination: lost, limit: 10 }), [], 'no record of the refused write');
    assert.equal(await b.getCursor(kept), 2);
    assert.deepEqual((await b.listDeliveries({ destination: kept, limit: 10 })).map((record) => record.pos), [1, 2]);
    assert.equal(await b.getCursor(unfenced), 1);
    assert.equal((await b.listDeliveries({ destination: unfenced, limit: 10 })).length, 1);
    assert.equal(await b.getCursor(subscriber), 7, 'a subscriber whose lease has a newer epoch of the same node writes');
  });

  test('a ledger commit waiting for a claim in progress reads the lease the claim commits, and is refused', async () => {
    const destination = `webhook:${randomUUID()}`;
    const epoch = (await a.cluster.claim('node-a', [destination], 1, 30_000)).get(destination) as number;
    a.cluster.fence(destination, 'node-a', epoch);
    await a.saveDeliveries(destination, [], 1);
    const claimer = new pg.Client({ connectionString: POSTGRES_SERVER, options: `-c search_path="${schema}"` });
    await claimer.connect();
    try {
      // Another node's claim, caught between its row lock and its commit.
      await claimer.query('BEGIN');
      await claimer.query("UPDATE pombo_leases SET node_id = 'node-b', epoch = epoch + 1 WHERE destination = $1", [destination]);
      let settled = false;
      const write = a.saveDeliveries(destination, [failedDelivery(destination, 2)], 2).finally(() => (settled = true));
      write.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(settled, false, 'the write waits for the claim');
      await claimer.query('COMMIT');
      await assert.rejects(write, LeaseLostError);
    } finally {
      await claimer.end();
    }
    assert.equal(await b.getCursor(destination), 1, 'the cursor stays where the lease holder left it');
    assert.deepEqual(await b.listDeliveries({ destination, limit: 10 }), []);
  });

  test('a realtime subscriber taken over by another node: the old holder hears of it and its floor writes are refused', async () => {
    const subscriber = `realtime:${randomUUID()}:orders`;
    const heard: Array<{ subscriber: string; nodeId: string; epoch: number }> = [];
    const stopHearing = a.cluster.onTakeover((takeover) => heard.push(takeover));
    try {
      const epochA = (await a.cluster.takeOverSubscribers('node-a', [subscriber])).get(subscriber) as number;
      a.cluster.fenceSubscriber(subscriber, 'node-a', epochA);
      await a.saveDeliveries(subscriber, [], 10);

      // Node B takes it over whoever holds it (no expiry to wait for): a newer connection attached there.
      const epochB = (await b.cluster.takeOverSubscribers('node-b', [subscriber])).get(subscriber) as number;
      assert.equal(epochB, epochA + 1, 'a takeover raises the epoch');
      b.cluster.fenceSubscriber(subscriber, 'node-b', epochB);
      await eventually(() => heard.some((takeover) => takeover.subscriber === subscriber && takeover.nodeId === 'node-b' && takeover.epoch === epochB), 'node A hears the takeover');
      assert.equal(await b.getCursor(subscriber), 10, 'node B resumes from the floor node A wrote');

      await assert.rejects(a.saveDeliveries(subscriber, [], 50), LeaseLostError);
      assert.equal(await b.getCursor(subscriber), 10, "node A's floor write was refused");
      assert.deepEqual(await a.cluster.heldSubscribers('node-a', new Map([[subscriber, epochA]])), new Set(), 'node A no longer holds it');
      await b.saveDeliveries(subscriber, [], 12);
      assert.equal(await a.getCursor(subscriber), 12, 'node B writes its floor');

      // A newer connection on node A takes it back; node B is refused in turn.
      const epochA2 = (await a.cluster.takeOverSubscribers('node-a', [subscriber])).get(subscriber) as number;
      a.cluster.fenceSubscriber(subscriber, 'node-a', epochA2);
      await a.saveDeliveries(subscriber, [], 13);
      await assert.rejects(b.saveDeliveries(subscriber, [], 99), LeaseLostError);
      assert.equal(await a.getCursor(subscriber), 13);

      // Deleting the instance's positions deletes its subscribers' leases too.
      await a.deleteDestination(subscriber.slice(0, subscriber.lastIndexOf(':')), { children: true });
      assert.equal(await a.getCursor(subscriber), undefined);
      assert.deepEqual(await a.cluster.heldSubscribers('node-a', new Map([[subscriber, epochA2]])), new Set(), 'the lease row is deleted');
      assert.equal((await b.cluster.takeOverSubscribers('node-b', [subscriber])).get(subscriber), 1, 'a new lease starts at epoch 1');
    } finally {
      stopHearing();
    }
  });

  test("a process's first heartbeat under a known node id is its start; later ones keep it", async () => {
    const id = `node-${randomUUID()}`;
    const startedAt = async () => (await b.cluster.nodes()).find((node) => node.id === id)?.startedAt;
    await a.cluster.heartbeat({ id, url: 'http://127.0.0.1:1', first: true }, 30_000);
    const first = await startedAt();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await a.cluster.heartbeat({ id, url: 'http://127.0.0.1:1' }, 30_000);
    assert.equal(await startedAt(), first, 'the same process');
    await a.cluster.heartbeat({ id, url: 'http://127.0.0.1:1', first: true }, 30_000);
    assert.ok(Date.parse((await startedAt()) ?? '') > Date.parse(first ?? ''), 'a process started again under the id');
    await a.cluster.leave(id);
  });

  test("a lease taken over shows none of the previous holder's published figures until the new holder publishes", async () => {
    const destination = `webhook:${randomUUID()}`;
    const epochA = (await a.cluster.claim('node-a', [destination], 1, 300)).get(destination) as number;
    await a.cluster.renew('node-a', new Map([[destination, epochA]]), 300, new Map([[destination, '{"delivered":7}']]));
    assert.equal((await b.cluster.destinationStates([destination])).get(destination)?.status, '{"delivered":7}');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((await b.cluster.claim('node-b', [destination], 1, 30_000)).size, 1, 'the expired lease is taken over');
    const state = (await b.cluster.destinationStates([destination])).get(destination);
    assert.deepEqual([state?.nodeId, state?.status, state?.statusAt], ['node-b', null, null]);
  });

  test('heartbeats list nodes alive until their TTL passes; leaving frees the leases', async () => {
    const id = `node-${randomUUID()}`;
    await a.cluster.heartbeat({ id, url: 'http://127.0.0.1:1' }, 300);
    const destination = `webhook:${randomUUID()}`;
    await a.cluster.claim(id, [destination], 1, 30_000);
    assert.equal((await b.cluster.nodes()).find((node) => node.id === id)?.alive, true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((await b.cluster.nodes()).find((node) => node.id === id)?.alive, false);
    await a.cluster.leave(id);
    assert.equal((await b.cluster.nodes()).find((node) => node.id === id), undefined);
    assert.equal((await b.cluster.leases()).find((lease) => lease.destination === destination)?.nodeId, null);
    assert.equal((await b.cluster.claim('node-b', [destination], 1, 30_000)).size, 1, 'a freed lease is taken at once');
  });
});
