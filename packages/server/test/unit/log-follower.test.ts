import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogFollower, type FollowedPage } from '../../src/store/postgres/log-follower.ts';
import type { StoredEvent } from '../../src/store/types.ts';

const event = (pos: number): StoredEvent =>
  ({ pos, id: `e${pos}`, instanceId: 'i', instance: 'i', seq: pos, event: 'MESSAGES_UPSERT', data: {}, sender: null, createdAt: 0 }) as unknown as StoredEvent;

/** A log of positions 1…100, read through reads that answer when the test lets them (or at once, `auto`). */
function slowLog(auto = false) {
  const reads: Array<{ after: number; until: number; answer: () => void }> = [];
  const published: number[] = [];
  const follower = new LogFollower(0, {
    read: (after, until, limit) =>
      new Promise<FollowedPage>((resolve) => {
        const events = Array.from({ length: Math.min(limit, until - after) }, (_, i) => event(after + 1 + i));
        const answer = () => resolve({ events, current: () => true });
        reads.push({ after, until, answer });
        if (auto) answer();
      }),
    publish: (events) => published.push(...events.map((e) => e.pos)),
    failed: (error) => assert.fail(String(error)),
  });
  return { follower, reads, published };
}

test('heads heard while a catch-up reads are read together in one more read, in order, none skipped', async () => {
  const { follower, reads, published } = slowLog();
  follower.heard(10);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(reads.length, 1, 'the first head is read at once');
  // A burst of notifications while that read is out: they wait for it, then go as one read.
  for (const head of [20, 30, 40, 35]) follower.heard(head);
  reads[0]?.answer();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(reads.length, 2, 'one read for the burst, not one per notification');
  assert.deepEqual({ after: reads[1]?.after, until: reads[1]?.until }, { after: 10, until: 40 });
  reads[1]?.answer();
  await follower.settled();
  assert.deepEqual(published, Array.from({ length: 40 }, (_, i) => i + 1));
  assert.equal(follower.head, 40);
  follower.heard(40);
  follower.heard(25);
  await follower.settled();
  assert.equal(reads.length, 2, 'a head already published reads nothing');
});

test("a head heard while this node's own commit waits for its catch-up is read before that commit is published", async () => {
  const { follower, published } = slowLog(true);
  follower.heard(5);
  // This node committed 8…9 after another node's 6…7, not heard yet.
  const own = follower.committed([event(8), event(9)], 7);
  follower.heard(7);
  await own;
  await follower.settled();
  assert.deepEqual(published, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
});
