import { PomboOptionError } from './errors.ts';
import { aFunction, aTimeout, checkOptions, nonEmptyString, type Check } from './option-checks.ts';
import type { Transport } from './events/transport.ts';

export interface PomboClientOptions {
  /** Where Pombo listens, e.g. `http://localhost:8080`, or `https://example.com/pombo` behind a reverse proxy. */
  baseUrl: string;
  /**
   * The global API key, or an instance token (then only that instance is reachable). Left out, the
   * client has no key of its own: each subscription then brings its `instanceToken` (a browser app
   * should never hold the global key). Given as `undefined` (`process.env.POMBO_API_KEY` unset), it throws.
   */
  apiKey?: string | undefined;
  /** How long a REST call may take, its answer's body included, before it rejects with a `PomboTimeoutError`. `0` or `Infinity`: no limit. Default 30 s. */
  timeoutMs?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** A WebSocket factory (default: `ws` in Node when installed, else the global WebSocket). */
  transport?: Transport;
}

const SCHEMES = ['http:', 'https:', 'ws:', 'wss:'];

const aBaseUrl: Check = (value) => {
  const expected = 'an http(s) or ws(s) URL, such as http://localhost:8080';
  if (typeof value !== 'string' || !URL.canParse(value)) return expected;
  return SCHEMES.includes(new URL(value).protocol) ? undefined : expected;
};

const aTransport: Check = (value) =>
  value !== null && typeof value === 'object' && typeof (value as Transport).open === 'function' ? undefined : 'a Transport (an object with an open function)';

const CHECKS: Record<keyof PomboClientOptions, Check> = {
  baseUrl: aBaseUrl,
  apiKey: nonEmptyString,
  timeoutMs: aTimeout,
  fetch: aFunction,
  transport: aTransport,
};

/** Throws a `PomboOptionError` (a TypeError) naming the first option that is wrong. */
export function checkClientOptions(options: PomboClientOptions): void {
  // Present but undefined is an unset variable, not a choice: a client without a key leaves the option out.
  if (options !== null && typeof options === 'object' && 'apiKey' in options && options.apiKey === undefined) {
    throw new PomboOptionError('PomboClient.apiKey', 'a non-empty string, or no apiKey at all for a client that subscribes with instance tokens only', 'undefined (is the variable it comes from set?)');
  }
  checkOptions('PomboClient', options, CHECKS, ['baseUrl']);
  if (!options.fetch && typeof globalThis.fetch !== 'function') throw new PomboOptionError('PomboClient.fetch', 'a fetch function: this runtime has none', 'nothing');
}
