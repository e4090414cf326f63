import { aBoolean, aFunction, aString, atLeast, checkOptions, nonEmptyString, oneOf, type Check } from '../option-checks.ts';
import type { SubscribeRequest } from './subscription.ts';

const eventNames: Check = (value) => {
  if (!Array.isArray(value) || !value.every((name) => typeof name === 'string')) return 'an array of event names';
  // The server refuses it as unknown; the SDK names it as an event type, so it says why.
  return value.includes('Gap') ? 'event names to filter by, without Gap: every subscription gets the Gap events, whatever its events' : undefined;
};

const countOrBoolean: Check = (value) => (typeof value === 'boolean' ? undefined : atLeast(0, { integer: true })(value) && 'true, false or an integer ≥ 0');

/** A limit that `Infinity` lifts: the runtime compares with it, and it was taken before options were checked. */
const limit = (min: number): Check => {
  const finite = atLeast(min, { integer: true });
  return (value) => (value === Number.POSITIVE_INFINITY || !finite(value) ? undefined : `an integer ≥ ${min} or Infinity`);
};

const CHECKS: Record<keyof SubscribeRequest, Check> = {
  instanceId: nonEmptyString,
  instanceToken: nonEmptyString,
  events: eventNames,
  subscriber: nonEmptyString,
  reconnect: aBoolean,
  maxRetries: limit(0),
  retryDelayMs: atLeast(0),
  maxRetryDelayMs: atLeast(0),
  lastEventId: aString,
  dedupe: countOrBoolean,
  concurrency: limit(1),
  maxInFlight: atLeast(1, { integer: true }),
  signal: (value) => (value instanceof AbortSignal ? undefined : 'an AbortSignal'),
  credentials: oneOf('headers', 'query'),
  pingIntervalMs: atLeast(0),
  onError: aFunction,
};

/** Throws a `PomboOptionError` (a TypeError) naming the first option of a subscription that is wrong. */
export function checkSubscribeRequest(request: SubscribeRequest): void {
  checkOptions('subscribe', request, CHECKS, ['instanceId']);
}
