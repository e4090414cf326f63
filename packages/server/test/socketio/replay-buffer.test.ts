import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replay, type ReplaySource } from '../../src/channels/socketio/replay.ts';
import type { EventRouter } from '../../src/channels/socketio/event-routing.ts';
import type { PomboSocket } from '../../src/channels/socketio/socket-types.ts';
import type { Envelope } from '../../src/core/envelope.ts';
import type { StoredEvent } from '../../src/store/types.ts';

/**
 * The live events a replay buffers while it reads the log (channels/socketio/replay.ts), with a fake
 * socket and log: past its bound, those the log read returns (at or below the head) are dropped; the
 * socket still gets every event once, in order.
 */
const eventAt = (pos: number) => ({ pos, instanceId: 'i', instance: 'inst' }) as StoredEvent;

function replayOf(log: StoredEvent[], head: () => number) {
  const sent: number[] = [];
  const joined: string[] = [];
  const socket = { connected: true, conn: {}, emit: (_name: string, payload: { pos: number }) => sent.push(payload.pos), join: (room: string) => joined.push(room) };
  const source: ReplaySource = {
    head,
    reads: {
      read: async (_instance: string | null, _keys: null, after: number, until: number, limit: number) => {
        const events = log.filter((event) => event.pos > after && event.pos <= until).slice(0, limit);
        return { events, through: events.length === limit ? (events.at(-1) as StoredEvent).pos : until };
      },
    } as unknown as ReplaySource['reads'],
  };
  const router = { route: () => ({ instanceEvent: undefined, rootEvents: ['event'], filtered: false }) } as unknown as EventRouter;
  const replay = new Replay(socket as unknown as PomboSocket, { kind: 'root' }, 0, source, router, (event) => ({ pos: event.pos }) as unknown as Envelope);
  const buffered = () => (replay as unknown as { pending: StoredEvent[] }).pending.map((event) => event.pos);
  return { replay, sent, joined, buffered };
}

test('past its bound, the buffer drops the events the log read returns and keeps those past the head; every event is sent once, in order', async () => {
  const log = Array.from({ length: 3200 }, (_, i) => eventAt(i + 1));
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  let head = 1000;
  const { replay, sent, joined, buffered } = replayOf(log, () => head);
  // Appended while the replay runs, the head moving with them: past the bound, all were read through the head.
  for (let pos = 1001; pos <= 2500; pos += 100) {
    head = pos + 99;
    replay.buffer(log.slice(pos - 1, pos + 99));
  }
  assert.deepEqual(buffered(), range(2101, 2500), 'dropped once past the bound (1,100 buffered), kept since');
  // Appended with the head behind them: past the bound again, only those at or below it go.
  replay.buffer(log.slice(2500, 3200));
  assert.deepEqual(buffered(), range(2501, 3200));
  await replay.run();
  assert.deepEqual(sent, range(1, 3200), 'no gap, no duplicate, in order');
  assert.equal(joined.length, 1, 'then it joins the live room');
  assert.deepEqual(buffered(), []);
});

test('a buffer the head has not moved past keeps every event past its bound', () => {
  const log = Array.from({ length: 1500 }, (_, i) => eventAt(i + 1));
  const { replay, buffered } = replayOf(log, () => 0);
  replay.buffer(log);
  assert.equal(buffered().length, 1500);
});

test('notifications out of position order (another node, two commits interleaving): the buffer still drops what the head covers, and the end of the replay is sent in position order', async () => {
  const log = Array.from({ length: 3000 }, (_, i) => eventAt(i + 1));
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  let head = 1000;
  const { replay, sent, buffered } = replayOf(log, () => head);
  // Heard early, newest first: past the head, they wait for the end of the replay.
  replay.buffer(log.slice(2975, 3000));
  replay.buffer(log.slice(2950, 2975));
  let largest = 0;
  for (let pos = 1001; pos <= 2950; pos += 50) {
    head = pos + 49;
    replay.buffer(log.slice(pos - 1, pos + 49));
    largest = Math.max(largest, buffered().length);
  }
  assert.ok(largest <= 1000, `at most 1,000 buffered once the head covers the rest, held ${largest}`);
  await replay.run();
  assert.deepEqual(sent, range(1, 3000), 'no gap, no duplicate, in order');
});
