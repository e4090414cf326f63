import type { AppContext } from '../../app-context.ts';
import { websocketConfigOf } from './event-routing.ts';
import type { PomboSocket } from './socket-types.ts';

/** The Socket.IO event that tells a client why it will receive nothing (never an event name of the log). */
const HINT_EVENT = 'pombo.hint';

export interface SilenceHint {
  code: 'POMBO_HINT_WEBSOCKET_OFF' | 'POMBO_HINT_NO_GLOBAL_EVENTS';
  message: string;
}

/**
 * Why a socket that just joined will receive nothing, if it will not. As in Evolution API, an
 * instance's namespace carries events only once its websocket config is enabled, and `/` only those
 * of enabled instances (or all with WEBSOCKET_GLOBAL_EVENTS): a first client that connected and saw
 * nothing had no way to know.
 */
function silenceHint(context: AppContext, socket: PomboSocket, globalEvents: boolean): SilenceHint | undefined {
  const { scope } = socket.data;
  if (scope.kind !== 'root') {
    // On `/`, WEBSOCKET_GLOBAL_EVENTS sends a token the instance's events whatever its config, as it does the global key.
    if (scope.kind === 'root-instance' && globalEvents) return undefined;
    if (websocketConfigOf(context.instances.findById(scope.instanceId))?.enabled) return undefined;
    const where = scope.kind === 'instance' ? 'on this namespace' : 'for this token on "/"';
    return {
      code: 'POMBO_HINT_WEBSOCKET_OFF',
      message: `the websocket channel of instance "${scope.instanceName}" is off, so nothing is emitted ${where}: enable it with POST /websocket/set/${scope.instanceName} {"websocket":{"enabled":true}} (events you leave out: every event)`,
    };
  }
  if (globalEvents || context.instances.list().some((instance) => websocketConfigOf(instance)?.enabled)) return undefined;
  return {
    code: 'POMBO_HINT_NO_GLOBAL_EVENTS',
    message: 'nothing is emitted on / yet: no instance has its websocket channel on (POST /websocket/set/<instance> {"websocket":{"enabled":true}}) and WEBSOCKET_GLOBAL_EVENTS is false (set it to true to receive every instance\'s events here)',
  };
}

/** Logs the hint (info: a setup step, not a fault) and sends it to the client, which may listen for `pombo.hint`. */
export function hintIfSilent(context: AppContext, socket: PomboSocket, globalEvents: boolean): void {
  const hint = silenceHint(context, socket, globalEvents);
  if (!hint) return;
  context.log.info({ namespace: socket.nsp.name, code: hint.code }, `socket.io client joined, but ${hint.message}`);
  socket.emit(HINT_EVENT, hint);
}
