import { PomboError, validationError, excerpt } from '../../core/errors.ts';
import type { AppContext } from '../../app-context.ts';
import { Authenticator, type Principal } from '../../core/auth.ts';
import { asPomboError, connectError } from './socket-errors.ts';
import { limitOf, type PomboSocket, type Scope, type SocketData } from './socket-types.ts';

const ROOT: Scope = { kind: 'root' };
const MAX_EVENT_ID_LENGTH = 200;

const first = (value: unknown): string | undefined => {
  const candidate: unknown = Array.isArray(value) ? value[0] : value;
  return typeof candidate === 'string' && candidate !== '' ? candidate : undefined;
};

/** The key, from the Socket.IO `auth` object, the `apikey` query parameter or the `apikey` header (Evolution API's two). */
export const keyOf = (handshake: PomboSocket['handshake']): string | undefined =>
  first((handshake.auth as Record<string, unknown>).apikey) ?? first(handshake.query.apikey) ?? first(handshake.headers.apikey);

/**
 * Who may see what: the global key sees `/` and every namespace; an instance token its own namespace,
 * and on `/` its own instance's events only (Evolution API's `/` client code, without Evolution API's
 * handing every instance's events to any token).
 */
function scopeOf(context: AppContext, principal: Principal, namespace: string): Scope {
  if (namespace === '/') {
    if (principal.kind === 'global') return ROOT;
    // The token's instance was deleted since its key was looked up: the key no longer opens anything.
    const own = context.instances.findById(principal.instanceId);
    if (!own) throw new PomboError('POMBO_ERR_SOCKET_UNAUTHORIZED');
    return { kind: 'root-instance', instanceId: own.id, instanceName: own.name };
  }
  const name = namespace.slice(1);
  const instance = Authenticator.authorize(principal, name, context.instances.find(name));
  return { kind: 'instance', instanceId: instance.id, instanceName: instance.name };
}

/** The log position to replay after, from `auth.lastEventId` (or socket.io's documented `auth.offset`). */
async function resumePosition(context: AppContext, scope: Scope, auth: Record<string, unknown>): Promise<number | undefined> {
  const field = auth.lastEventId !== undefined ? 'lastEventId' : 'offset';
  const value = auth[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || value.length > MAX_EVENT_ID_LENGTH) {
    throw validationError(`auth.${field} must be the id of the last event you received (evt_…)`);
  }
  const [event] = await context.store.getByIds([value]);
  const limit = limitOf(scope);
  // An event of another instance is answered as an unknown one: an instance token learns nothing of other instances' ids.
  if (!event || (limit && event.instanceId !== limit.instanceId)) {
    const log = limit ? `the event log of "${limit.instanceName}"` : 'the event log';
    throw validationError(
      `auth.${field} "${excerpt(value)}" is not in ${log} (unknown, or older than EVENTS_RETENTION_HOURS): reconnect without it to receive live events only`,
    );
  }
  return event.pos;
}

async function admit(context: AppContext, socket: PomboSocket): Promise<SocketData> {
  const { handshake } = socket;
  const principal = context.auth.identify(keyOf(handshake));
  if (!principal) throw new PomboError('POMBO_ERR_SOCKET_UNAUTHORIZED');
  const scope = scopeOf(context, principal, socket.nsp.name);
  return { scope, resumeAfter: await resumePosition(context, scope, handshake.auth as Record<string, unknown>) };
}

/**
 * The middleware of every namespace: every connection is authenticated, whatever its address, and
 * authorized for the namespace; a refusal reaches the client as a `connect_error` whose `message` says
 * why and whose `data.code` is stable.
 */
export function admission(context: AppContext) {
  return (socket: PomboSocket, next: (error?: Error) => void): void => {
    admit(context, socket).then(
      (data) => {
        socket.data = data;
        next();
      },
      (error: unknown) => {
        const refusal = asPomboError(error, context.log);
        context.log.info({ code: refusal.code, namespace: socket.nsp.name, address: socket.handshake.address }, 'socket.io connection refused');
        next(connectError(refusal));
      },
    );
  };
}
