import type { PomboEvent } from './event.ts';

/**
 * What a subscription with no error handler does with an error (a handler that threw, a lost
 * connection, a Gap): it writes the first one to `console.warn`, with how to handle them, and drops
 * the rest. Not Node's EventEmitter rule (throw, and so crash the process): the VZaps contract's
 * client code registers no error handler, and a handler that throws must not end a worker.
 */
export function warnUnhandledError(instanceId: string, error: Error, event?: PomboEvent): void {
  const about = event ? ` (event ${event.id}, ${event.type})` : '';
  console.warn(
    `@pombo/sdk: subscription to "${instanceId}": ${error.name}: ${error.message}${about}. ` +
      "No 'error' handler is registered: this is the only error of this subscription shown; add sub.on('error', …) or the onError option to see them all.",
  );
}
