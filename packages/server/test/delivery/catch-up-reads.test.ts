import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CatchUpReads } from '../../src/delivery/catch-up-reads.ts';
import type { EventKey } from '../../src/core/event-names.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { ReadQuery, StoredEvent } from '../../src/store/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'pombo-catch-up-'));
let store: SqliteStore;
/** The reads that reached the store. */
let storeReads = 0;
/** Shared reads over the test's store (each test its own: nothing read before it is kept). */
const sharedReads = () =>
  new CatchUpReads({
    read: (query: ReadQuery) => {
      storeReads++;
      return store.read(query);
    },
  });
const instances = [randomUUID(), randomUUID()];
const KINDS: EventKey[] = ['MESSAGES_UPSERT', 'PRESENCE_UPDATE', 'MESSAGES_UPDATE'];
let head = 0;

before(async () => {
  store = new SqliteStore(join(dir, 'log.db'));
  for (const id of instances) await store.createInstance({ id, name: `catch-up-${id}`, token: randomUUID(), integration: 'INGEST', number: null, channels: {} });
  // 300 events, the two instances and three kinds interleaved.
  const results = await store.append(Array.from({ length: 300 }, (_, n) => ({ instanceId: instances[n % 2] as string, event: KINDS[n % 3] as EventKey, data: { n } })));
  head = results.at(-1)?.event.pos ?? 0;
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const ids = (events: readonly StoredEvent[]) => events.map((event) => event.id);

/** What a reader following `reads` from `afterPos` to `untilPos` gets, page by page. */
async function follow(reads: CatchUpReads, instanceId: string | null, keys: ReadonlySet<EventKey> | null, afterPos: number, untilPos: number, limit: number): Promise<StoredEvent[]> {
  const got: StoredEvent[] = [];
  let pos = afterPos;
  while (pos < untilPos) {
    const page = await reads.read(instanceId, keys, pos, untilPos, limit);
    assert.ok(page.through > pos, 'every read moves on');
    got.push(...page.events);
    pos = page.through;
  }
  return got;
}

test('readers of one instance or of every instance (null: a Socket.IO replay on `/`), starting anywhere, with any page size and bound, get exactly what the log holds for them', async () => {
  const first = (await store.read({ limit: 1 }))[0]?.pos ?? 1;
  const reads = sharedReads();
  for (const keys of [null, new Set<EventKey>(['MESSAGES_UPSERT']), new Set<EventKey>(['PRESENCE_UPDATE', 'MESSAGES_UPDATE'])]) {
    for (const [afterPos, untilPos, limit] of [
      [first - 1, head, 500],
      [first + 17, head, 7],
      [first + 40, head - 50, 13],
      [first + 3, first + 90, 1],
    ] as const) {
      for (const instanceId of [...instances, null]) {
        const expected = await store.read({ afterPos, untilPos, limit: 10_000, ...(instanceId ? { instanceId } : {}), ...(keys ? { events: [...keys] } : {}) });
        assert.deepEqual(ids(await follow(reads, instanceId, keys, afterPos, untilPos, limit)), ids(expected), `${instanceId} ${[...(keys ?? ['*'])]} ${afterPos}..${untilPos} by ${limit}`);
      }
    }
  }
});

test('many readers of the same stretch share one read of the log and the same event objects', async () => {
  const afterPos = head - 120;
  const reads = sharedReads();
  const before = storeReads;
  const pages = await Promise.all(Array.from({ length: 200 }, () => reads.read(instances[0] as string, null, afterPos, head, 500)));
  assert.equal(storeReads - before, 1, 'one read of the log for 200 readers');
  assert.equal(pages[0]?.events.length, 60);
  for (const page of pages) {
    assert.equal(page.through, head);
    assert.ok(page.events.every((event, i) => event === pages[0]?.events[i]), 'the same objects: their frames are made once');
  }
  // A reader a little further on, with a smaller window, is served from the same stretch.
  const later = await reads.read(instances[0] as string, null, afterPos + 30, head, 5);
  assert.equal(storeReads - before, 1);
  assert.deepEqual(ids(later.events), ids(pages[0]?.events.filter((event) => event.pos > afterPos + 30).slice(0, 5) ?? []));
  assert.equal(later.through, later.events.at(-1)?.pos);
  // Another instance, or other event keys, is its own read.
  await reads.read(instances[1] as string, null, afterPos, head, 500);
  await reads.read(instances[0] as string, new Set<EventKey>(['MESSAGES_UPSERT']), afterPos, head, 500);
  assert.equal(storeReads - before, 3);
});

test('a read that fails fails for its readers, and the next read goes to the log again', async () => {
  let fail = true;
  const failing = new CatchUpReads({
    read: async (query: ReadQuery) => {
      if (fail) throw new Error('the disk is gone');
      return store.read(query);
    },
  });
  const results = await Promise.allSettled([failing.read(instances[0] as string, null, 0, head, 10), failing.read(instances[0] as string, null, 0, head, 10)]);
  assert.deepEqual(results.map((result) => result.status), ['rejected', 'rejected']);
  fail = false;
  const page = await failing.read(instances[0] as string, null, 0, head, 10);
  assert.equal(page.events.length, 10);
});
