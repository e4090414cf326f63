import type { IncomingMessage } from 'node:http';
import { PomboError, validationError } from '../../core/errors.ts';
import { Authenticator, type Principal } from '../../core/auth.ts';
import type { InstanceService } from '../../instances/instance-service.ts';
import type { Instance } from '../../store/types.ts';
import { parseFilter, type RealtimeFilter } from './realtime-filter.ts';

export const REALTIME_PATH = '/events/ws';

/** What a client asked for in its handshake, once authenticated and authorized. */
export interface RealtimeRequest {
  readonly instance: Instance;
  /** Null when the client named no events: the instance's realtime config (or every event) applies. */
  readonly filter: RealtimeFilter | null;
  readonly subscriber: string;
  readonly lastEventId: string | undefined;
  /** `max_in_flight`: the events the client takes unacknowledged at once (capped by REALTIME_MAX_IN_FLIGHT); undefined: the server's. */
  readonly maxInFlight: number | undefined;
}

const SUBSCRIBER = /^[A-Za-z0-9._-]{1,64}$/;

export const isRealtimePath = (url: string | undefined): boolean => {
  const path = (url ?? '').split('?')[0];
  return path === REALTIME_PATH || path === `${REALTIME_PATH}/`;
};

const header = (request: IncomingMessage, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Every credential the handshake carries: headers first, then the query parameters browsers must use. */
function credentialsOf(request: IncomingMessage, query: URLSearchParams): string[] {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header(request, 'authorization') ?? '')?.[1];
  const candidates = [header(request, 'x-instance-token'), bearer, header(request, 'apikey'), query.get('instance_token'), query.get('access_token')];
  return candidates.filter((value): value is string => typeof value === 'string' && value !== '');
}

/**
 * Authenticates and validates a handshake: 401 without a known key, 404 for an unknown instance,
 * 403 when no key may read it, 400 for a bad query. The global key or that instance's token only.
 */
/**
 * `max_in_flight`: a client that handles events slowly asks for fewer at once, so that none waits in its
 * queue past the ack wait (and is sent again, and dead-lettered after REALTIME_MAX_DELIVER sends).
 */
function maxInFlightOf(query: URLSearchParams): number | undefined {
  const value = query.get('max_in_flight');
  if (value === null || value === '') return undefined;
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw validationError(`max_in_flight must be a whole number of events, at least 1 (got "${value.slice(0, 32)}")`);
  return Number(value);
}

export function parseRealtimeRequest(request: IncomingMessage, auth: Authenticator, instances: InstanceService): RealtimeRequest {
  // Only the query matters here (the path was matched already): no URL object per handshake.
  const url = request.url ?? '';
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  const principals = credentialsOf(request, query)
    .map((key) => auth.identify(key))
    .filter((principal): principal is Principal => principal !== undefined);
  if (!principals.length) {
    throw new PomboError('POMBO_ERR_UNAUTHORIZED', {}, [
      'realtime: send the key in the X-Instance-Token, Authorization: Bearer or apikey header, or the instance_token or access_token query parameter',
    ]);
  }
  const instanceId = query.get('instance_id');
  if (!instanceId) throw validationError('instance_id is required: the id or the name of the instance to subscribe to');
  const found = instances.resolve(instanceId);
  const principal = principals.find((held) => held.kind === 'global' || held.instanceId === found?.id) ?? (principals[0] as Principal);
  const instance = Authenticator.authorize(principal, instanceId, found);
  const names = query.getAll('events').flatMap((value) => value.split(','));
  const subscriber = query.get('subscriber') || 'default';
  if (!SUBSCRIBER.test(subscriber)) throw validationError('subscriber must be 1 to 64 letters, digits, ".", "-" or "_"');
  return {
    instance,
    filter: names.some((name) => name.trim() !== '') ? parseFilter(names) : null,
    subscriber,
    lastEventId: query.get('last_event_id') || undefined,
    maxInFlight: maxInFlightOf(query),
  };
}
