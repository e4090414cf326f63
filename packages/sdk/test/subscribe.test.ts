import { test } from 'node:test';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import assert from 'node:assert/strict';
import { uniqueName, eventually } from '../../server/test/helpers/pombo-harness.ts';
import { publish, withPombo } from './sdk-fixtures.ts';
import { REALTIME_TYPES } from '../../server/src/core/event-names.ts';
import { EVENT_TYPES, PomboClient, PomboGapError, PomboRealtimeError, type PomboEvent, type SocketLike, type Transport } from '../src/index.ts';

const subscriberState = async (client: PomboClient, name: string, subscriber: string) => {
  const { subscribers } = (await client.realtime.find(name)) as { subscribers: Array<{ subscriber: string; backlog: number; connections: Array<{ inFlight: number }> }> };
  return subscribers.find((entry) => entry.subscriber === subscriber);
};

const backlog = async (client: PomboClient, name: string, subscriber = 'default'): Promise<number | undefined> => (await subscriberState(client, name, subscriber))?.backlog;

/** Events sent to the subscriber's connections and not acknowledged yet. */
const inFlight = async (client: PomboClient, name: string, subscriber: string): Promise<number | undefined> =>
  (await subscriberState(client, name, subscriber))?.connections.reduce((sum, connection) => sum + connection.inFlight, 0);

test('typed and All handlers run for each event, which is acknowledged once they finished', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const [instance] = await client.instances.fetch({ instanceName: name });
    const typed: string[] = [];
    const all: string[] = [];
    await using sub = await client.events.subscribe({ instanceId: name, instanceToken: instance!.token, events: ['Message', 'Connected'] });
    sub.on('Message', async (event) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      typed.push(event.id);
    });
    sub.on('All', (event: PomboEvent) => void all.push(`${event.type}:${event.id}`));
    const ids = await publish(client, name, 3);
    await publish(client, name, 1, 'PRESENCE_UPDATE');
    await eventually(() => typed.length === 3, 'three messages');
    assert.deepEqual(typed, ids);
    assert.deepEqual(all, ids.map((id) => `Message:${id}`), 'Presence was not subscribed to');
    await eventually(async () => (await backlog(client, name)) === 0, 'every event acknowledged');
    assert.equal(sub.lastEventId, ids[2]);
  });
});

test('a resuming subscriber\'s backlog waits for the first handler: nothing is acknowledged before a handler ran', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const first = await client.events.subscribe({ instanceId: name, subscriber: 'late' });
    const seen: string[] = [];
    first.on('Message', (event) => void seen.push(event.id));
    await publish(client, name, 1);
    await eventually(() => seen.length === 1, 'the first event');
    await first.close();
    const ids = await publish(client, name, 5);
    await using again = await client.events.subscribe({ instanceId: name, subscriber: 'late' });
    // The backlog is sent as soon as the socket opens (the server counts it in flight); the caller registers its handlers later.
    await eventually(async () => (await inFlight(client, name, 'late')) === 5, 'the backlog sent');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await backlog(client, name, 'late'), 5, 'nothing acknowledged without a handler');
    const resumed: string[] = [];
    const all: string[] = [];
    again.on('Message', (event) => void resumed.push(event.id));
    again.on('All', (event) => void all.push(event.id));
    await eventually(() => resumed.length === 5, 'the backlog, once a handler is there');
    assert.deepEqual(resumed, ids);
    assert.deepEqual(all, ids, 'handlers registered in the same turn all get the held events');
    await eventually(async () => (await backlog(client, name, 'late')) === 0, 'the backlog acknowledged');
  });
});

test('events resent while they wait for the first handler (the ack wait passed) reach it once', async () => {
  await withPombo({ REALTIME_ACK_WAIT_MS: '250', REALTIME_MAX_DELIVER: '100' }, async (_pombo, client, name) => {
    await using sub = await client.events.subscribe({ instanceId: name, subscriber: 'slow-start' });
    const ids = await publish(client, name, 3);
    // The server sends each event again every 250 ms while it is not acknowledged: twice before the
    // handler comes at 600 ms, the next time (750 ms) well after its acks.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const seen: string[] = [];
    sub.on('Message', (event) => void seen.push(event.id));
    await eventually(async () => (await backlog(client, name, 'slow-start')) === 0, 'the three acknowledged');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(seen, ids, 'each once, in order');
  });
});

test('a throwing handler reports the error and gets the event again on the live connection, which it then acknowledges', async () => {
  await withPombo({ REALTIME_ACK_WAIT_MS: '200' }, async (_pombo, client, name) => {
    const errors: Array<{ message: string; id: string | undefined }> = [];
    const seen: string[] = [];
    const sub = await client.events.subscribe({ instanceId: name, onError: (error, event) => errors.push({ message: error.message, id: event?.id }) });
    sub.on('Message', (event) => {
      seen.push(event.id);
      if (seen.length === 1) throw new Error('the database was busy');
    });
    const [id] = await publish(client, name, 1);
    await eventually(() => seen.length === 2, 'the redelivery');
    assert.deepEqual(seen, [id, id]);
    assert.deepEqual(errors, [{ message: 'the database was busy', id }]);
    assert.equal(sub.state, 'open', 'the socket stayed open');
    await eventually(async () => (await backlog(client, name)) === 0, 'the second delivery acknowledged');
    await sub.close();
    await sub.waitForClose();
  });
});

test('handlers running concurrently acknowledge out of order, and nothing is delivered twice', async () => {
  await withPombo({ REALTIME_ACK_WAIT_MS: '1500' }, async (_pombo, client, name) => {
    const seen: string[] = [];
    await using sub = await client.events.subscribe({ instanceId: name, concurrency: 8 });
    sub.on('All', async (event) => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 40));
      seen.push(event.id);
    });
    const ids = await publish(client, name, 30);
    await eventually(async () => seen.length === 30 && (await backlog(client, name)) === 0, 'all acknowledged');
    assert.notDeepEqual(seen, ids, 'handlers finished out of order');
    assert.deepEqual([...seen].sort(), [...ids].sort());
    await new Promise((resolve) => setTimeout(resolve, 1700));
    assert.equal(seen.length, 30, 'no redelivery after the ack wait');
  });
});

test('credentials in the query (as browsers send them) work; a refusal rejects at once without retrying', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const [mine] = await client.instances.fetch({ instanceName: name });
    await using sub = await client.events.subscribe({ instanceId: mine!.id, instanceToken: mine!.token, credentials: 'query' });
    const got: string[] = [];
    sub.on('All', (event) => void got.push(event.id));
    const ids = await publish(client, name, 2);
    await eventually(() => got.length === 2, 'two events');
    assert.deepEqual(got, ids);
    const other = uniqueName('other');
    await client.instances.create({ instanceName: other });
    const started = Date.now();
    const refused = await client.events.subscribe({ instanceId: other, instanceToken: mine!.token, maxRetries: 5, retryDelayMs: 1000 }).then(
      () => assert.fail('subscribed to another instance'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof PomboRealtimeError && refused.fatal);
    assert.equal(refused.status, 403);
    assert.ok(Date.now() - started < 1000, 'no reconnect attempts after a refusal');
  });
});

test('a refusal after the upgrade (a browser: an Origin header, credentials in the query) rejects subscribe() with its close code', async () => {
  await withPombo({}, async (pombo, client, name) => {
    const browserLike: Transport = { headers: false, open: (url) => new WebSocket(url, { headers: { origin: 'https://app.example' } }) as unknown as SocketLike };
    const wrongKey = new PomboClient({ baseUrl: pombo.url, apiKey: 'a-wrong-key-0123456789', transport: browserLike });
    const refused = await wrongKey.events.subscribe({ instanceId: name, maxRetries: 5, retryDelayMs: 1000 }).then(
      () => assert.fail('subscribe() resolved though the server refused'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof PomboRealtimeError && refused.fatal);
    assert.equal(refused.closeCode, 4401);

    const accepted = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey, transport: browserLike });
    const sub = await accepted.events.subscribe({ instanceId: name });
    assert.equal(sub.state, 'open');
    await sub.close();
    // Asked for headers, a WebSocket that cannot send them refuses rather than putting the key in the URL.
    await assert.rejects(accepted.events.subscribe({ instanceId: name, credentials: 'headers' }), /credentials: 'headers' needs a WebSocket that can send headers/);
  });
});

test('a server that accepts each connection and closes it at once (it cannot start the subscription) meets a growing delay, and maxRetries ends it', async () => {
  // A real WebSocket server that answers every upgrade and closes with 1011, as Pombo does when a subscription cannot start.
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const opened: number[] = [];
  server.on('connection', (socket) => {
    opened.push(Date.now());
    socket.close(1011, 'the subscription could not start: try again');
  });
  try {
    const client = new PomboClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: 'any' });
    const sub = await client.events.subscribe({ instanceId: 'any', retryDelayMs: 100, maxRetries: 3, onError: () => undefined });
    await assert.rejects(sub.waitForClose(), /gave up after 3 reconnect attempts/);
    assert.equal(opened.length, 4, 'the first connection and 3 reconnects');
  } finally {
    server.close();
  }
});

test('an aborted signal closes the subscription; close() lets a running handler finish and acknowledge', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const controller = new AbortController();
    const aborted = await client.events.subscribe({ instanceId: name, subscriber: 'aborted' }, { signal: controller.signal });
    controller.abort();
    await aborted.waitForClose();
    assert.equal(aborted.state, 'closed');

    const sub = await client.events.subscribe({ instanceId: name });
    let started = false;
    let finished = false;
    sub.on('All', async () => {
      started = true;
      await new Promise((resolve) => setTimeout(resolve, 100));
      finished = true;
    });
    await publish(client, name, 1);
    await eventually(() => started, 'the handler running');
    await sub.close();
    assert.ok(finished, 'close waited for the handler');
    const again = await client.events.subscribe({ instanceId: name });
    const redelivered: string[] = [];
    again.on('All', (event) => void redelivered.push(event.id));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(redelivered, [], 'the handled event was acknowledged before the socket closed');
    await again.close();
  });
});

/** An event id made at `ms` (a ULID's first ten characters are its time). */
function idAt(ms: number): string {
  const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = '';
  for (let i = 0; i < 10; i++, ms = Math.floor(ms / 32)) time = crockford[ms % 32] + time;
  return `evt_${time}${'0'.repeat(16)}`;
}

test('a Gap reaches the error handlers (a PomboGapError) when no Gap or All handler takes it', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const retained = await publish(client, name, 2);
    const expired = idAt(Date.now() - 30 * 24 * 3_600_000);
    const errors: Array<{ error: Error; event?: PomboEvent }> = [];
    const sub = await client.events.subscribe({ instanceId: name, events: ['Message'], lastEventId: expired, onError: (error, event) => errors.push({ error, event }) });
    const seen: string[] = [];
    sub.on('Message', (event) => void seen.push(event.id));
    await eventually(() => seen.length === 2, 'the retained events');
    assert.deepEqual(seen, retained);
    assert.equal(errors.length, 1);
    const [{ error, event }] = errors as [(typeof errors)[number]];
    assert.ok(error instanceof PomboGapError);
    assert.equal(error.gap.reason, 'retention');
    assert.equal(error.gap.last_event_id, expired);
    assert.equal(event?.type, 'Gap');
    await sub.close();

    const gaps: PomboEvent[] = [];
    const handled = await client.events.subscribe({ instanceId: name, subscriber: 'gaps', lastEventId: expired, onError: (error) => errors.push({ error }) });
    handled.on('Gap', (gap) => void gaps.push(gap));
    await eventually(() => gaps.length === 1, 'the Gap, to its handler');
    assert.equal(errors.length, 1, 'a Gap handler takes it: no error');
    await handled.close();
  });
});

test("the SDK's event types are the server's realtime vocabulary plus Gap", () => {
  assert.deepEqual(EVENT_TYPES, [...REALTIME_TYPES, 'Gap']);
});
