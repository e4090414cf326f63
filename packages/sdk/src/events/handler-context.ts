/** The part of Node's AsyncLocalStorage used to tell which event's handlers are calling. */
export interface HandlerContext {
  run<R>(event: object, handle: () => R): R;
  getStore(): object | undefined;
}

type BuiltinModules = { getBuiltinModule?(id: string): unknown };

/**
 * An AsyncLocalStorage where the runtime has one (Node 20.16+, Deno, Bun), so that `close()` called
 * from a handler (after an `await`) knows not to wait for that handler; undefined in browsers.
 * `getBuiltinModule`, not an import: bundlers for the browser leave it alone.
 */
export function handlerContext(): HandlerContext | undefined {
  const runtime = (globalThis as { process?: BuiltinModules }).process;
  const hooks = runtime?.getBuiltinModule?.('node:async_hooks') as { AsyncLocalStorage?: new () => HandlerContext } | undefined;
  return hooks?.AsyncLocalStorage ? new hooks.AsyncLocalStorage() : undefined;
}
