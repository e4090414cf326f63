import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
import { PomboClient } from '../src/index.ts';

/**
 * The SDK's imports of 'ws' from here on, as a user's install makes them: `missing`, an optional peer
 * not installed under Yarn's Plug'n'Play (its wording, not Node's: "Cannot find package 'ws'"); `broken`,
 * a ws whose own file is missing (the same error code, for another module).
 */
const WS_AS = `
let mode;
export function initialize({ port }) { port.on('message', (next) => port.postMessage((mode = next))); }
export async function resolve(specifier, context, next) {
  if (!context.parentURL?.includes('/packages/sdk/src/')) return next(specifier, context);
  if (mode === 'missing' && (specifier === 'ws' || specifier.startsWith('ws/'))) {
    const error = new Error("@pombo/sdk tried to access ws (a peer dependency) but it isn't provided by its ancestors; this makes the require call ambiguous and unsound.");
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  if (mode === 'broken' && specifier === 'ws') return { url: 'data:text/javascript,import "file:///nowhere/ws/lib/websocket.js"', shortCircuit: true };
  return next(specifier, context);
}`;

const { port1, port2 } = new MessageChannel();
register(`data:text/javascript,${encodeURIComponent(WS_AS)}`, { data: { port: port2 }, transferList: [port2] });
port1.unref();

/** What `subscribe()` says with ws loaded as `mode`, and no built-in WebSocket (Node 20's case). */
async function subscribeWithWs(mode: 'missing' | 'broken'): Promise<unknown> {
  port1.ref();
  port1.postMessage(mode);
  await new Promise((resolve) => port1.once('message', resolve)); // the hooks' thread took it
  port1.unref();
  const native = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
  Object.defineProperty(globalThis, 'WebSocket', { value: undefined, configurable: true, writable: true });
  try {
    const client = new PomboClient({ baseUrl: 'http://127.0.0.1:9', apiKey: 'key' });
    return await client.events.subscribe({ instanceId: 'alice', maxRetries: 0 }).then(() => 'subscribed', (error: unknown) => error);
  } finally {
    if (native) Object.defineProperty(globalThis, 'WebSocket', native);
    else delete (globalThis as { WebSocket?: unknown }).WebSocket;
  }
}

test('ws not installed, whatever the wording of the error: subscribe() says to install it, not that ws is broken', async () => {
  const error = await subscribeWithWs('missing');
  assert.ok(error instanceof Error, String(error));
  assert.equal(error.message, 'no WebSocket implementation: on Node 20, install the "ws" package (npm install ws)');
});

test('ws installed but one of its own files missing (the same "not found" code): subscribe() says ws is installed but could not be loaded', async () => {
  const error = await subscribeWithWs('broken');
  assert.ok(error instanceof Error, String(error));
  assert.match(error.message, /^the "ws" package is installed but could not be loaded: .*nowhere\/ws\/lib\/websocket\.js.* \(reinstall it: npm install ws; or pass a transport\)$/);
  assert.equal((error.cause as { code?: string } | undefined)?.code, 'ERR_MODULE_NOT_FOUND');
});
