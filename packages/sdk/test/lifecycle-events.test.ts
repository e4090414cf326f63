import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../../server/test/helpers/pombo-harness.ts';
import { publish, withPombo } from './sdk-fixtures.ts';
import { EVENT_NAMES } from '../../server/src/core/event-names.ts';
import { OTHER_EVENT_TYPES } from '../src/index.ts';

test("on('open') does not start delivery: a resumed backlog waits for the first event handler, then reaches it whole", async () => {
  await withPombo({}, async (_pombo, client, name) => {
    const first = await client.events.subscribe({ instanceId: name, subscriber: 'migrating' });
    let handled = 0;
    first.on('Message', () => void handled++);
    await publish(client, name, 1);
    await eventually(() => handled === 1, 'the first event');
    await first.close();
    const ids = await publish(client, name, 4);

    await using sub = await client.events.subscribe({ instanceId: name, subscriber: 'migrating' });
    const lifecycle: string[] = [];
    sub.on('open', () => void lifecycle.push('open'));
    sub.on('close', (error) => void lifecycle.push(`close:${error?.message ?? 'clean'}`));
    await new Promise((resolve) => setTimeout(resolve, 300)); // e.g. await db.connect()
    const seen: string[] = [];
    sub.on('Message', (event) => void seen.push(event.id));
    await eventually(() => seen.length === 4, 'the backlog, once the Message handler is there');
    assert.deepEqual(seen, ids);

    (sub as unknown as { socket: { close(code: number): void } }).socket.close(4000); // a lost connection: the SDK reconnects
    await eventually(() => lifecycle.includes('open'), "'open' on the reconnect");
    await sub.close();
    assert.deepEqual(lifecycle, ['open', 'close:clean']);
  });
});

test('an unknown event name (it compiles: any string does) throws a TypeError naming the valid ones, in on() before anything is acknowledged, and in off()', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    await using sub = await client.events.subscribe({ instanceId: name });
    const unknown = (typo: string) => (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, new RegExp(`unknown event "${typo}"`));
      assert.match(error.message, /Message, ReadReceipt, .*Gap, All, error, open, close/);
      return true;
    };
    for (const typo of ['message', 'MESSAGES_UPSERT', 'connect', 'end']) {
      assert.throws(() => sub.on(typo, () => undefined), unknown(typo));
      assert.throws(() => sub.off(typo, () => undefined), unknown(typo));
    }
    sub.on('QRCODE_UPDATED', () => undefined).on('All', () => undefined).on('error', () => undefined);
  });
});

test("OTHER_EVENT_TYPES are the server's event keys that can arrive as a type (no fixed realtime word)", () => {
  const keys = EVENT_NAMES.filter((name) => !name.realtime || name.realtime.pick).map((name) => name.key);
  assert.deepEqual(OTHER_EVENT_TYPES, keys);
});
