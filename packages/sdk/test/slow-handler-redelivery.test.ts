import { test } from 'node:test';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import { WebSocketServer } from 'ws';
import { PomboClient } from '../src/index.ts';
import { eventually } from '../../server/test/helpers/pombo-harness.ts';
import { withPombo } from './sdk-fixtures.ts';

interface SubscriberView {
  subscriber: string;
  backlog: number;
  deadLettered: number;
}

test('events the server resends while a slow handler still has them queued or running are handled once, and none is dead-lettered', async () => {
  // Every unacknowledged event comes again each 200 ms; the handler takes 100 ms an event, so the
  // last of 12 waits 1.2 s in the queue: six sends, below REALTIME_MAX_DELIVER's 10 unless the copies pile up.
  await withPombo({ REALTIME_ACK_WAIT_MS: '200' }, async (_pombo, client, name) => {
    await using sub = await client.events.subscribe({ instanceId: name, subscriber: 'slow' });
    const calls = new Map<string, number>();
    sub.on('Message', async (event) => {
      calls.set(event.id, (calls.get(event.id) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
    });
    const published = await client.events.publish(name, Array.from({ length: 12 }, (_, n) => ({ event: 'MESSAGES_UPSERT', data: { key: { id: `m${n}` } } })));
    const ids = published.events.map((event) => event.id);
    const view = async (): Promise<SubscriberView | undefined> =>
      ((await client.realtime.find(name)) as { subscribers: SubscriberView[] }).subscribers.find((entry) => entry.subscriber === 'slow');
    await eventually(async () => (await view())?.backlog === 0, 'every event acknowledged or dead-lettered');
    await new Promise((resolve) => setTimeout(resolve, 500)); // copies still queued would run now
    assert.deepEqual([...calls.keys()], ids, 'each event, in order');
    assert.deepEqual([...calls.values()].filter((count) => count > 1), [], 'no event handled twice');
    assert.equal((await view())?.deadLettered, 0);
  });
});

test('a copy the server sent before it read the ack, arriving after it, is acknowledged again and not handled twice', async () => {
  // A real WebSocket server playing the server's side of the race: its resend of an event leaves
  // before the ack it has not read yet. Pombo cannot tell, so the copy arrives after the ack.
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const acks: string[] = [];
  const frame = JSON.stringify({ id: 'e1', type: 'Message', instance_id: 'any', created_at: new Date(0).toISOString(), data: {} });
  server.on('connection', (socket) => {
    socket.on('message', (data) => {
      acks.push((JSON.parse(data.toString()) as { event_id: string }).event_id);
      if (acks.length === 1) socket.send(frame); // the stale copy
    });
    socket.send(frame);
  });
  try {
    const client = new PomboClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: 'any' });
    await using sub = await client.events.subscribe({ instanceId: 'any' });
    let calls = 0;
    sub.on('Message', () => void calls++);
    await eventually(() => acks.length === 2, 'the copy acknowledged again');
    assert.equal(calls, 1, 'handled once');
    assert.deepEqual(acks, ['e1', 'e1']);
  } finally {
    server.close();
  }
});

test("a stale copy acknowledged again does not move the resume point back: a reconnect resumes after the newest event handled", async () => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const frame = (id: string) => JSON.stringify({ id, type: 'Message', instance_id: 'any', created_at: new Date(0).toISOString(), data: {} });
  const resumedFrom: Array<string | null> = [];
  server.on('connection', (socket, request) => {
    resumedFrom.push(new URL(request.url ?? '', 'http://x').searchParams.get('last_event_id'));
    if (resumedFrom.length > 1) return;
    const acks: string[] = [];
    socket.on('message', (data) => {
      acks.push((JSON.parse(data.toString()) as { event_id: string }).event_id);
      if (acks.length === 2) socket.send(frame('e1')); // a stale copy of the first, after both acks
      if (acks.length === 3) socket.close(1012, 'restarting'); // its second ack came: reconnect
    });
    socket.send(frame('e1'));
    socket.send(frame('e2'));
  });
  try {
    const client = new PomboClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: 'any' });
    await using sub = await client.events.subscribe({ instanceId: 'any', retryDelayMs: 10, onError: () => undefined });
    sub.on('Message', () => undefined);
    await eventually(() => resumedFrom.length === 2, 'the reconnect');
    assert.deepEqual(resumedFrom, [null, 'e2']);
  } finally {
    server.close();
  }
});

interface SubscriberWindow extends SubscriberView {
  connections: Array<{ inFlight: number }>;
}

test('a slow handler working through a backlog gets every event once and none dead-lettered: the server sends maxInFlight ahead, the rest wait there', async () => {
  // Without a window the 40 events would all wait in the SDK's queue: those past the fifth would pass
  // the 200 ms ack wait three times (REALTIME_MAX_DELIVER) there, and be dead-lettered.
  await withPombo({ REALTIME_ACK_WAIT_MS: '200', REALTIME_MAX_DELIVER: '3' }, async (_pombo, client, name) => {
    await using sub = await client.events.subscribe({ instanceId: name, subscriber: 'backlog', maxInFlight: 2 });
    const calls = new Map<string, number>();
    sub.on('Message', async (event) => {
      calls.set(event.id, (calls.get(event.id) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 40));
    });
    const published = await client.events.publish(name, Array.from({ length: 40 }, (_, n) => ({ event: 'MESSAGES_UPSERT', data: { key: { id: `b${n}` } } })));
    const view = async () => ((await client.realtime.find(name)) as { subscribers: SubscriberWindow[] }).subscribers.find((entry) => entry.subscriber === 'backlog');
    let widest = 0;
    await eventually(async () => {
      const seen = await view();
      widest = Math.max(widest, ...(seen?.connections ?? []).map((connection) => connection.inFlight));
      return seen?.backlog === 0;
    }, 'every event acknowledged or dead-lettered', 20_000);
    assert.ok(widest <= 2, `at most 2 events unacknowledged at once (saw ${widest})`);
    assert.deepEqual([...calls.keys()], published.events.map((event) => event.id), 'each event, in order');
    assert.deepEqual([...calls.values()].filter((count) => count > 1), [], 'none handled twice');
    assert.equal((await view())?.deadLettered, 0);
  });
});

test('by default the server sends 20 events per handler ahead of their acks', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    await using sub = await client.events.subscribe({ instanceId: name, subscriber: 'default-window', concurrency: 2 });
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    sub.on('Message', () => held);
    await client.events.publish(name, Array.from({ length: 100 }, (_, n) => ({ event: 'MESSAGES_UPSERT', data: { key: { id: `d${n}` } } })));
    const inFlight = async () =>
      ((await client.realtime.find(name)) as { subscribers: SubscriberWindow[] }).subscribers.find((entry) => entry.subscriber === 'default-window')?.connections[0]?.inFlight;
    await eventually(async () => (await inFlight()) === 40, '40 events sent ahead');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await inFlight(), 40, 'and no more while they are not acknowledged');
    release();
  });
});
