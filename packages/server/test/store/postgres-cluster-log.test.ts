import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { Instance, StoredEvent } from '../../src/store/types.ts';
import { IdempotencyKeyTakenError } from '../../src/store/idempotency-key-taken-error.ts';
import { eventually } from '../helpers/pombo-harness.ts';
import { POSTGRES_SERVER, postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

/** Two stores on one schema stand for two Pombo nodes on one database (cluster mode). */
const { uri, schema, service } = await postgresTestSchema();

describe('PostgreSQL log shared by several nodes', { skip: 'skip' in service ? service.skip : false }, () => {
  let a: PostgresStore;
  let b: PostgresStore;
  before(async () => {
    [a, b] = await Promise.all([PostgresStore.open(uri), PostgresStore.open(uri)]);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  const newInstance = (store: PostgresStore): Promise<Instance> =>
    store.createInstance({ id: randomUUID(), name: `cluster-${randomUUID()}`, token: randomUUID(), integration: 'INGEST', number: null, channels: {} });

  test('two nodes appending at once: every listener and every head-bounded reader gets every event once, in order; seq has no gap', async () => {
    const shared = await Promise.all([newInstance(a), newInstance(a)]);
    const seen = new Map<PostgresStore, StoredEvent[]>([[a, []], [b, []]]);
    const stops = [a, b].map((store) => store.onAppend((events) => seen.get(store)?.push(...events)));
    const start = await a.headPosition();
    // A reader as the dispatcher is one: it reads up to the head its node knows, never further.
    const readerSaw: StoredEvent[] = [];
    let writing = true;
    const reader = (async () => {
      let after = start;
      while (writing || after < (await b.headPosition())) {
        const head = await b.headPosition();
        const events = await b.read({ afterPos: after, untilPos: head, limit: 1000 });
        readerSaw.push(...events);
        after = events.length === 1000 ? (events.at(-1) as StoredEvent).pos : head;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const calls = Array.from({ length: 400 }, (_, i) => {
      const store = i % 2 ? a : b;
      const instance = shared[i % 4 < 2 ? 0 : 1] as Instance;
      return store.append(Array.from({ length: 1 + (i % 3) }, (_, k) => ({ instanceId: instance.id, event: 'MESSAGES_UPSERT' as const, data: { i, k } })));
    });
    const appended = (await Promise.all(calls)).flat().map((result) => result.event);
    const end = Math.max(...appended.map((event) => event.pos));
    await eventually(() => [a, b].every((store) => (seen.get(store)?.at(-1)?.pos ?? 0) >= end), 'both nodes to publish every event', 5000, 5);
    writing = false;
    await reader;
    stops.forEach((stop) => stop());

    const ours = (events: readonly StoredEvent[]) => events.filter((event) => shared.some((instance) => instance.id === event.instanceId)).map((event) => event.pos);
    const expected = appended.map((event) => event.pos).sort((x, y) => x - y);
    assert.equal(expected.length, 799, "400 calls of 1 to 3 events");
    for (const [store, events] of seen) {
      assert.deepEqual(ours(events), expected, `${store === a ? 'node A' : 'node B'}'s listeners get every event of both nodes once, in position order`);
    }
    assert.deepEqual(ours(readerSaw), expected, 'a reader bounded by its node’s head never skips a committed event');
    for (const instance of shared) {
      const events = await a.read({ instanceId: instance.id, limit: 10_000 });
      assert.deepEqual(events.map((event) => event.seq), events.map((_, index) => index + 1), 'seq is 1, 2, 3… in log order');
      const times = events.map((event) => event.createdAt);
      assert.deepEqual([...times].sort(), times, 'times never go back along the log');
    }
  });

  test('one producer id appended on two nodes at once is stored once', async () => {
    const instance = await newInstance(a);
    const request = { instanceId: instance.id, event: 'MESSAGES_UPSERT' as const, data: { once: true }, producerId: 'p-1' };
    const [[first], [second]] = await Promise.all([a.append([request]), b.append([request])]);
    assert.equal(first?.event.id, second?.event.id);
    assert.deepEqual([first?.duplicate, second?.duplicate].sort(), [false, true]);
    assert.equal((await a.read({ instanceId: instance.id, limit: 10 })).length, 1);
  });

  test('one Idempotency-Key claimed on two nodes at once, by requests of different lengths: one appends, the other appends nothing and is refused', async () => {
    const instance = await newInstance(a);
    const winners: StoredEvent[] = [];
    for (let round = 0; round < 10; round++) {
      const key = `race-${round}`;
      const requestOf = (from: string, length: number) =>
        Array.from({ length }, (_, n) => ({ instanceId: instance.id, event: 'CALL' as const, data: { from, round, n }, producerId: `key[${n}]:${key}` }));
      const calls = await Promise.allSettled([
        a.append(requestOf('a', 3), { instanceId: instance.id, key, fingerprint: `a-${round}` }),
        b.append(requestOf('b', 2), { instanceId: instance.id, key, fingerprint: `b-${round}` }),
      ]);
      const appended = calls.flatMap((call) => (call.status === 'fulfilled' ? [call.value.map((result) => result.event)] : []));
      assert.equal(appended.length, 1, `round ${round}: one request appends`);
      const refused = calls.find((call) => call.status === 'rejected')?.reason as unknown;
      assert.ok(refused instanceof IdempotencyKeyTakenError, String(refused));
      assert.deepEqual(refused.eventIds, appended[0]?.map((event) => event.id), 'the refusal names the events of the request that holds the key');
      winners.push(...(appended[0] as StoredEvent[]));
    }
    assert.deepEqual(await a.read({ instanceId: instance.id, limit: 100 }), winners, "the log holds the winners' events only");
  });

  test('a retry that renews its Idempotency-Key claim while another node’s prune deletes it still holds the key', async () => {
    const instance = await newInstance(a);
    const claim = { instanceId: instance.id, key: 'renewed', fingerprint: 'fp-first' };
    const requestOf = () => [0, 1].map((n) => ({ instanceId: instance.id, event: 'CALL' as const, data: { n }, producerId: `first[${n}]` }));
    const [gone] = await a.append(requestOf(), claim);
    const other = new pg.Client({ connectionString: POSTGRES_SERVER, options: `-c search_path="${schema}"` });
    const watcher = new pg.Client({ connectionString: POSTGRES_SERVER });
    await Promise.all([other.connect(), watcher.connect()]);
    try {
      // Retention deleted one event of the request: its retry appends it again, and renews the claim.
      await other.query('DELETE FROM pombo_events WHERE id = $1', [gone?.event.id]);
      // The instance's row held: the retry looks the key up (held), then its statement waits.
      await other.query('BEGIN');
      await other.query('SELECT 1 FROM pombo_instances WHERE id = $1 FOR UPDATE', [instance.id]);
      const blocker = (await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      const retrying = a.append(requestOf(), claim);
      await eventually(async () => (await watcher.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))', [blocker])).rowCount, 'the retry’s statement to wait for the row', 5000, 5);
      // Another node's prune, standing in: the claim goes (its last event was deleted) before the statement runs.
      await other.query('DELETE FROM pombo_idempotency_keys WHERE instance_id = $1 AND key = $2', [instance.id, claim.key]);
      await other.query('COMMIT');
      const retry = await retrying;
      assert.deepEqual(retry.map((result) => result.duplicate), [false, true]);
      await assert.rejects(a.append([{ instanceId: instance.id, event: 'CALL', data: { other: true } }], { ...claim, fingerprint: 'fp-other' }), (error: unknown) => {
        assert.ok(error instanceof IdempotencyKeyTakenError, String(error));
        assert.deepEqual(error.eventIds, retry.map((result) => result.event.id), 'the key names the retry’s events');
        return true;
      });
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      await Promise.all([other.end(), watcher.end()]);
    }
  });

  /** Runs `work` beside a third node whose connections go through a proxy the test freezes: a node paused or cut off. */
  async function withPausableNode(work: (node: PostgresStore, proxy: TcpProxy) => Promise<void>): Promise<void> {
    const proxy = await startTcpProxy({ port: 5432 });
    const node = await PostgresStore.open(uri.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`));
    try {
      await work(node, proxy);
    } finally {
      proxy.restore();
      await node.close();
      await proxy.close();
    }
  }

  /** `work`, or a failure naming it when it has not settled within `ms` (it was waiting for a lock). */
  async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} waited more than ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  const listed = (instance: Instance | undefined) => (instance?.channels.list as string[] | undefined) ?? [];

  test('a node paused between the read and the write of an instance edit holds no lock: other nodes append to the instance and edit it meanwhile, and the edit is then made again over theirs', async () => {
    await withPausableNode(async (paused, proxy) => {
      const instance = await newInstance(a);
      let calls = 0;
      const editing = paused.editChannels(instance.id, (stored) => {
        // Read, not yet written: the node stops answering here, the first time.
        if (++calls === 1) proxy.freeze();
        return { list: [...listed(stored), 'paused'] };
      });
      await eventually(() => calls === 1, 'the paused node to read the instance', 5000, 5);
      const [appended] = await within(b.append([{ instanceId: instance.id, event: 'CALL', data: {} }]), 2000, "another node's append of the instance");
      assert.equal(appended?.event.seq, 1);
      await within(b.editChannels(instance.id, (stored) => ({ list: [...listed(stored), 'other'] })), 2000, "another node's edit of the instance");
      proxy.restore();
      const edited = await editing;
      assert.equal(calls, 2, 'the change was made again over the row as the other node left it');
      assert.deepEqual(listed(edited), ['other', 'paused']);
      assert.deepEqual(listed(await a.getInstanceById(instance.id)), ['other', 'paused'], 'both edits are kept');
    });
  });

  test('an instance edit whose instance another node deleted between its read and its write answers undefined and writes nothing', async () => {
    await withPausableNode(async (paused, proxy) => {
      const instance = await newInstance(a);
      let calls = 0;
      const editing = paused.editChannels(instance.id, () => {
        if (++calls === 1) proxy.freeze();
        return { list: ['paused'] };
      });
      await eventually(() => calls === 1, 'the paused node to read the instance', 5000, 5);
      await within(b.deleteInstance(instance.id), 2000, "another node's deletion of the instance");
      proxy.restore();
      assert.equal(await editing, undefined);
      assert.equal(await a.getInstanceById(instance.id), undefined);
    });
  });

  test('a node hears of another node’s append within milliseconds (NOTIFY), and through the poll when LISTEN is lost', async () => {
    const instance = await newInstance(a);
    const heard: StoredEvent[] = [];
    const stop = b.onAppend((events) => heard.push(...events.filter((event) => event.instanceId === instance.id)));
    try {
      const started = Date.now();
      await a.append([{ instanceId: instance.id, event: 'CALL', data: { n: 1 } }]);
      await eventually(() => heard.length === 1, 'node B to hear of node A’s append', 5000, 5);
      assert.ok(Date.now() - started < 500, `heard after ${Date.now() - started} ms, well before the 1 s poll`);
      assert.equal(await b.headPosition(), heard[0]?.pos, 'the head moves with what the node heard');

      // Every LISTEN connection of this schema's test is cut by the server: appends still arrive.
      const admin = new pg.Client({ connectionString: POSTGRES_SERVER });
      await admin.connect();
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pombo-listen' AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
      );
      await admin.end();
      await a.append([{ instanceId: instance.id, event: 'CALL', data: { n: 2 } }]);
      await eventually(() => heard.length === 2, 'node B to find node A’s append without LISTEN', 3000, 5);
      assert.deepEqual(heard.map((event) => event.seq), [1, 2]);
    } finally {
      stop();
    }
  });

  test(`a head opened while another node appends counts only committed positions (schema ${schema})`, async () => {
    const instance = await newInstance(a);
    const writes = Array.from({ length: 50 }, (_, i) => a.append([{ instanceId: instance.id, event: 'CALL', data: { i } }]));
    const late = await PostgresStore.open(uri);
    const heard: number[] = [];
    const stop = late.onAppend((events) => heard.push(...events.filter((event) => event.instanceId === instance.id).map((event) => event.seq)));
    try {
      const opened = await late.headPosition();
      const appended = (await Promise.all(writes)).flat().map((result) => result.event);
      const after = appended.filter((event) => event.pos > opened).map((event) => event.seq);
      await eventually(() => heard.length >= after.length, 'the late node to hear of every later append', 5000, 5);
      assert.deepEqual(heard, after, 'every event past the head it opened at reaches its listeners');
    } finally {
      stop();
      await late.close();
    }
  });
  test('a commit that waited for the log’s head while another node committed hands its listeners that node’s events first', async () => {
    const [mine, theirs] = await Promise.all([newInstance(a), newInstance(a)]);
    const seen: StoredEvent[] = [];
    const stop = a.onAppend((events) => seen.push(...events));
    // The other node, standing in: it takes the head row, writes an event there and commits it; its NOTIFY is late.
    const other = new pg.Client({ connectionString: POSTGRES_SERVER, options: `-c search_path="${schema}"` });
    const watcher = new pg.Client({ connectionString: POSTGRES_SERVER });
    await Promise.all([other.connect(), watcher.connect()]);
    try {
      const taken = await other.query<{ pos: string }>('BEGIN; UPDATE pombo_log_head SET pos = pos + 1 RETURNING pos');
      const theirPos = Number((taken as unknown as pg.QueryResult<{ pos: string }>[])[1]?.rows[0]?.pos);
      const appending = a.append([{ instanceId: mine.id, event: 'MESSAGES_UPSERT', data: { n: 1 } }]);
      const deadline = Date.now() + 5000;
      while (!(await watcher.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE pombo_log_head%' AND application_name = 'pombo'")).rowCount) {
        if (Date.now() > deadline) throw new Error('the append never waited for the head');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await other.query(
        "INSERT INTO pombo_events (pos, id, instance_id, instance, seq, event, data, created_at) VALUES ($1, $2, $3, $4, 1, 'MESSAGES_UPSERT', '{}', $5)",
        [theirPos, randomUUID(), theirs.id, theirs.name, Date.now()],
      );
      await other.query('COMMIT');
      const [appended] = await appending;
      assert.equal(appended?.event.pos, theirPos + 1, 'the waiting append took the position after the other node’s');
      assert.deepEqual(seen.map((event) => event.pos), [theirPos, appended?.event.pos], 'the other node’s event, then this node’s, none skipped');
    } finally {
      stop();
      await Promise.all([other.end(), watcher.end()]);
    }
  });

  test('a rolled-back append leaves no gap in positions: the next one takes the same position', async () => {
    const instance = await newInstance(a);
    const other = new pg.Client({ connectionString: POSTGRES_SERVER, options: `-c search_path="${schema}"` });
    await other.connect();
    try {
      const [before] = await a.append([{ instanceId: instance.id, event: 'CALL', data: { n: 1 } }]);
      await other.query('BEGIN; UPDATE pombo_log_head SET pos = pos + 5; ROLLBACK');
      const [after] = await b.append([{ instanceId: instance.id, event: 'CALL', data: { n: 2 } }]);
      assert.equal(after?.event.pos, (before?.event.pos ?? 0) + 1);
    } finally {
      await other.end();
    }
  });

  test('a node reads only the events its listeners want of other nodes’ appends; its head still moves past the rest', async () => {
    const [wanted, other] = await Promise.all([newInstance(a), newInstance(a)]);
    const reader = await PostgresStore.open(uri);
    const heard: StoredEvent[] = [];
    const lifecycle: string[] = [];
    const stops = [
      reader.onAppend((events) => heard.push(...events), () => ({ instances: [wanted.id] })),
      reader.onAppend((events) => lifecycle.push(...events.map((event) => event.event)), () => ({ events: ['INSTANCE_DELETE'] })),
    ];
    try {
      const appended = (
        await Promise.all([
          a.append([{ instanceId: other.id, event: 'MESSAGES_UPSERT', data: { n: 1 } }]),
          a.append([{ instanceId: wanted.id, event: 'MESSAGES_UPSERT', data: { n: 2 } }]),
          a.append([{ instanceId: other.id, event: 'INSTANCE_DELETE', data: {} }]),
          a.append([{ instanceId: other.id, event: 'MESSAGES_UPSERT', data: { n: 3 } }]),
        ])
      )
        .flat()
        .map((result) => result.event);
      const end = Math.max(...appended.map((event) => event.pos));
      await eventually(async () => (await reader.headPosition()) === end, 'the reading node’s head to reach the last append', 5000, 5);
      const kinds = new Set(heard.map((event) => `${event.instanceId === wanted.id ? 'wanted' : 'other'} ${event.event}`));
      assert.deepEqual([...kinds].sort(), ['other INSTANCE_DELETE', 'wanted MESSAGES_UPSERT'], 'the wanted instance’s events and the kinds asked for, nothing else was read');
      assert.ok(lifecycle.includes('INSTANCE_DELETE'), 'the listener of a kind heard it (each listener is handed what all of them want)');
    } finally {
      stops.forEach((stop) => stop());
      await reader.close();
    }
  });

  test('a listener that starts wanting an instance while a read is under way still gets its events (the page is read again)', async () => {
    const instance = await newInstance(a);
    const reader = await PostgresStore.open(uri);
    const instances = new Set<string>();
    let asked = 0;
    const heard: StoredEvent[] = [];
    const stop = reader.onAppend(
      (events) => heard.push(...events.filter((event) => event.instanceId === instance.id)),
      () => {
        asked++;
        const snapshot = { instances: [...instances] };
        // As a worker that starts, or a socket that connects, while the node reads: after the read began, before it ends.
        queueMicrotask(() => instances.add(instance.id));
        return snapshot;
      },
    );
    try {
      const [appended] = await a.append([{ instanceId: instance.id, event: 'MESSAGES_UPSERT', data: { n: 1 } }]);
      await eventually(async () => (await reader.headPosition()) >= (appended?.event.pos ?? 0), 'the reading node to hear of the append', 5000, 5);
      assert.deepEqual(heard.map((event) => event.id), [appended?.event.id], 'the event of the instance wanted during the read arrived, once');
      assert.ok(asked >= 2, `the interest was asked at the read and again before handing it over (${asked} times)`);
    } finally {
      stop();
      await reader.close();
    }
  });
});
