import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../../server/test/helpers/pombo-harness.ts';
import { PomboRealtimeError } from '../src/index.ts';
import { publish, withPombo } from './sdk-fixtures.ts';

test('with no error handler, the first error of a subscription (a handler that threw) is written to console.warn with how to see them all; later ones are not', async (t) => {
  const warn = t.mock.method(console, 'warn', () => undefined);
  await withPombo({}, async (_pombo, client, name) => {
    const sub = await client.events.subscribe({ instanceId: name });
    let calls = 0;
    sub.on('Message', () => {
      calls++;
      throw new Error(`handler failed ${calls}`);
    });
    const [first] = await publish(client, name, 2);
    await eventually(() => calls >= 2, 'both events handled');
    await sub.close();
    assert.equal(warn.mock.callCount(), 1, 'one warning per subscription');
    const [text] = warn.mock.calls[0]?.arguments ?? [];
    assert.equal(
      text,
      `@pombo/sdk: subscription to "${name}": Error: handler failed 1 (event ${first}, Message). No 'error' handler is registered: this is the only error of this subscription shown; add sub.on('error', …) or the onError option to see them all.`,
    );
  });
});

test('with an error handler, errors go to it and nothing is written; a refused subscribe() only rejects', async (t) => {
  const warn = t.mock.method(console, 'warn', () => undefined);
  await withPombo({}, async (_pombo, client, name) => {
    const errors: string[] = [];
    const sub = await client.events.subscribe({ instanceId: name, onError: (error) => void errors.push(error.message) });
    sub.on('Message', () => {
      throw new Error('handler failed');
    });
    await publish(client, name, 2);
    await eventually(() => errors.length >= 2, 'both failures reported');
    await sub.close();
    await assert.rejects(client.events.subscribe({ instanceId: 'no-such-instance' }), (error: unknown) => error instanceof PomboRealtimeError && error.fatal);
    assert.equal(warn.mock.callCount(), 0);
  });
});
