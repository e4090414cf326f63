import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resumePoint } from '../../src/channels/realtime/realtime-resume.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { StoredEvent } from '../../src/store/types.ts';

/** A store with one instance and `append(n)` of MESSAGES_UPSERT events. */
async function withStore(run: (store: SqliteStore, append: (count: number) => Promise<StoredEvent[]>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-resume-'));
  const store = new SqliteStore(join(dir, 'pombo.db'));
  try {
    await store.createInstance({ id: 'a', name: 'a', token: 'a-token-0123456789', integration: 'INGEST', number: null, channels: {} });
    const append = async (count: number) =>
      (await store.append(Array.from({ length: count }, (_, n) => ({ instanceId: 'a', event: 'MESSAGES_UPSERT' as const, data: { n } })))).map((result) => result.event);
    await run(store, append);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a subscriber whose next event a pending delivery kept, while the ones after it were pruned, gets a Gap', () =>
  withStore(async (store, append) => {
    const [acked, kept] = (await append(5)) as [StoredEvent, StoredEvent];
    await sleep(5);
    const cutoff = new Date();
    await sleep(5);
    const [fresh] = (await append(1)) as [StoredEvent];
    // A webhook still retrying `kept` pins it; retention prunes the other older events.
    await store.saveDeliveries('webhook:a', [
      { destination: 'webhook:a', pos: kept.pos, eventId: kept.id, instanceId: 'a', event: kept.event, status: 'pending', attempts: [], nextAttemptAt: Date.now() + 60_000 },
    ]);
    await store.prune(cutoff);
    const read = await store.read({ afterPos: acked.pos, limit: 10 });
    assert.deepEqual(read.map((event) => event.pos), [kept.pos, fresh.pos], 'the log holds the kept event and the fresh one');

    const resumed = await resumePoint(store, 'a', acked.pos);
    assert.equal(resumed.from, acked.pos);
    assert.equal(resumed.gap?.reason, 'retention', 'three events after the position were pruned: the subscriber is told');
    assert.equal(resumed.gap?.oldest_retained_at, kept.createdAt);

    const atKept = await resumePoint(store, 'a', kept.pos);
    assert.equal(atKept.gap?.reason, 'retention', 'from the kept event on, the three after it were pruned');
    const atNewest = await resumePoint(store, 'a', fresh.pos - 1);
    assert.equal(atNewest.gap, undefined, 'nothing is missing after the last pruned position');
  }));

test('a subscriber with every event after its position still in the log resumes without a Gap', () =>
  withStore(async (store, append) => {
    const [first] = (await append(20)) as [StoredEvent];
    assert.deepEqual(await resumePoint(store, 'a', first.pos), { from: first.pos });
    assert.deepEqual(await resumePoint(store, 'a', first.pos + 19), { from: first.pos + 19 }, 'at the head');
  }));
