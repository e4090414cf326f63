import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { withPombo } from './sdk-fixtures.ts';

/**
 * A `ws` that is installed but fails to load (a broken install, a bundler that mangled it): from here
 * on, the SDK's import of 'ws' gets a module that throws. The Pombo under test loaded its own ws before.
 */
const BREAK_WS = `
export async function resolve(specifier, context, next) {
  if (specifier === 'ws' && context.parentURL?.includes('/packages/sdk/src/')) {
    return { url: 'data:text/javascript,throw new Error("ws is broken here")', shortCircuit: true };
  }
  return next(specifier, context);
}`;

test('a ws package that fails to load makes subscribe() reject with an error saying so and why, not a quiet fallback or "install ws"', async () => {
  await withPombo({}, async (_pombo, client, name) => {
    register(`data:text/javascript,${encodeURIComponent(BREAK_WS)}`);
    await assert.rejects(client.events.subscribe({ instanceId: name, maxRetries: 0 }), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.equal(error.message, 'the "ws" package is installed but could not be loaded: ws is broken here (reinstall it: npm install ws; or pass a transport)');
      assert.equal((error.cause as Error | undefined)?.message, 'ws is broken here');
      return true;
    });
  });
});
