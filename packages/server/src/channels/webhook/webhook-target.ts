import { eventName, type EventKey } from '../../core/event-names.ts';
import { evolutionJwt, JWT_KEY_HEADER } from './webhook-jwt.ts';
import { signatureHeaders } from './webhook-signature.ts';

/** Where one request goes, split as undici's dispatcher takes it. */
export interface Endpoint {
  readonly origin: string;
  readonly path: string;
}

export interface TargetOptions {
  url: string;
  byEvents: boolean;
  headers: Readonly<Record<string, string>>;
  /** The decoded Standard Webhooks key, when requests are signed. */
  key: Buffer | undefined;
  /** The keys of the secrets being rotated out: each signs alongside `key` until its `untilMs`. */
  previous?: ReadonlyArray<{ key: Buffer; untilMs: number }> | undefined;
  base64: boolean;
}

const BASE_HEADERS = { 'content-type': 'application/json', 'user-agent': 'Pombo-Webhook/0.1' };

/** `byEvents`: the kebab event name appended to the URL's path, its query string kept. */
export function byEventUrl(base: string, event: EventKey): string {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${eventName(event).kebab}`;
  return url.toString();
}

const decoded = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a stray `%` is sent as written
  }
};

/** `https://user:pass@host/…`: the URL's credentials as HTTP Basic auth (an origin never carries them). */
function basicAuthOf(href: string): string | undefined {
  const url = new URL(href);
  if (!url.username && !url.password) return undefined;
  const pair = `${decoded(url.username)}:${decoded(url.password)}`;
  return `Basic ${Buffer.from(pair).toString('base64')}`;
}

/** A URL as undici's dispatcher takes it: the origin, and the path with its query string. */
export function endpointOf(href: string): Endpoint {
  const url = new URL(href);
  return { origin: url.origin, path: `${url.pathname}${url.search}` };
}

/** One webhook's resolved configuration: its endpoint per event and the headers of each request. */
export class WebhookTarget {
  /** The configured URL: the envelope's `destination`. */
  readonly url: string;
  readonly base64: boolean;
  private readonly endpoints = new Map<EventKey, Endpoint>();
  private readonly single: Endpoint;
  private readonly headers: Record<string, string>;
  private readonly jwtKey: string | undefined;
  /** The keys signing now (see keys), and when the first previous one among them stops signing. */
  private signing: readonly Buffer[] = [];
  private signingUntil = Infinity;

  constructor(private readonly options: TargetOptions) {
    this.url = options.url;
    this.base64 = options.base64;
    this.single = endpointOf(options.url);
    // Header names are case-insensitive: lower-cased, a configured one replaces Pombo's default instead of doubling it.
    const basic = basicAuthOf(options.url);
    this.headers = { ...BASE_HEADERS, ...(basic ? { authorization: basic } : {}) };
    for (const [name, value] of Object.entries(options.headers)) this.headers[name.toLowerCase()] = value;
    this.jwtKey = this.headers[JWT_KEY_HEADER];
    delete this.headers[JWT_KEY_HEADER];
    this.keysAt(Date.now());
  }

  endpoint(event: EventKey): Endpoint {
    if (!this.options.byEvents) return this.single;
    let endpoint = this.endpoints.get(event);
    if (!endpoint) {
      endpoint = endpointOf(byEventUrl(this.options.url, event));
      this.endpoints.set(event, endpoint);
    }
    return endpoint;
  }

  /** The current key, then the previous ones whose overlap lasts: the same list, built again only when one of them expired. */
  private keys(): readonly Buffer[] {
    const now = Date.now();
    if (now >= this.signingUntil) this.keysAt(now);
    return this.signing;
  }

  private keysAt(now: number): void {
    const { key, previous = [] } = this.options;
    const lasting = key ? previous.filter(({ untilMs }) => now < untilMs) : [];
    this.signing = key ? [key, ...lasting.map((overlapping) => overlapping.key)] : [];
    this.signingUntil = Math.min(Infinity, ...lasting.map(({ untilMs }) => untilMs));
  }

  /** The configured headers, plus the signature of exactly `body` and Evolution's JWT when asked for. */
  headersFor(eventId: string, body: string): Record<string, string> {
    if (!this.options.key && !this.jwtKey) return this.headers;
    return {
      ...this.headers,
      ...(this.jwtKey ? { authorization: `Bearer ${evolutionJwt(this.jwtKey)}` } : {}),
      ...(this.options.key ? signatureHeaders(this.keys(), eventId, body) : {}),
    };
  }
}
