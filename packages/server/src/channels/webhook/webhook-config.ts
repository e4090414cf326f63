import { selectedKeys, type EventKey } from '../../core/event-names.ts';
import { PAYLOAD_FILTER_SCHEMA, parsePayloadFilter, type PayloadFilter } from '../../core/payload-filter.ts';
import { excerpt, validationError } from '../../core/errors.ts';
import type { Ordering } from '../../delivery/destination.ts';
import {
  eventList,
  httpUrl,
  object,
  oneOf,
  optionalBoolean,
  optionalInteger,
  optionalString,
  type Obj,
} from '../../core/validate.ts';
import { booleanField, eventList as eventListSchema, nullableFields, strictObject, stringField, type JsonSchema } from '../../core/schemas.ts';
import { CREDENTIAL_NAME, isRedactedUrl, redactUrl } from '../../ops/redact.ts';
import type { Instance } from '../../store/types.ts';
import { maskSecret, secretKey } from './webhook-signature.ts';
import { previousSecretsOf, type PreviousSecret } from './webhook-previous-secrets.ts';
import { pausesOf, type PauseWindow } from './webhook-pause.ts';

/** One instance's webhook, as `POST /webhook/set` stored it (seed 001's fields plus Pombo's). */
export interface WebhookSettings {
  enabled: boolean;
  url: string | null;
  /** The events it gets; missing for every event (`selectedKeys`). */
  events?: EventKey[];
  headers: Record<string, string>;
  base64: boolean;
  byEvents: boolean;
  /** A Standard Webhooks secret (`whsec_…`): requests are signed when set. */
  secret: string | null;
  ordering: Ordering;
  /** Requests in flight at once to this webhook; null uses WEBHOOK_MAX_IN_FLIGHT. */
  maxInFlight: number | null;
  /** Secrets rotated out by `POST /webhook/rotate-secret`, newest first: each signs too, until its overlap ends. */
  previousSecrets?: PreviousSecret[];
  /** The one rotated-out secret of settings stored before several were kept: read, never written (webhook-previous-secrets.ts). */
  previousSecret?: string | null;
  previousSecretExpiresAt?: string | null;
  /** Which of the selected events it gets, by what they carry (core/payload-filter.ts); null for all. */
  filter?: PayloadFilter | null;
  /** Set when Pombo disabled it after failing (webhook-auto-disable.ts); cleared when it is enabled again. */
  disabledAt?: string | null;
  disabledReason?: string | null;
  failingSince?: string | null;
  /** When a person disabled it with `/webhook/set` (webhook-pause.ts); kept while it stays disabled. */
  pausedAt?: string | null;
  /** The position of the instance's last event stored then: the pause skips those after it. */
  pausedAfter?: number | null;
  /** The last pauses, newest first, once enabled again after each (webhook-pause.ts). */
  pauses?: PauseWindow[];
  /** The one pause of settings stored before several were kept: read, never written (pausesOf). */
  paused?: PauseWindow | null;
}

/** One more webhook of an instance (`/webhook/endpoints/…`): the same settings, with an id of its own. */
export interface WebhookEndpoint extends WebhookSettings {
  readonly id: string;
  readonly description: string | null;
  readonly createdAt: string;
}

export const GLOBAL_WEBHOOK = 'webhook:global';
export const instanceWebhook = (instanceId: string): string => `webhook:${instanceId}`;
/** An endpoint's destination: `webhook:<instanceId>:<endpointId>`. */
export const endpointWebhook = (instanceId: string, endpointId: string): string => `webhook:${instanceId}:${endpointId}`;

/** The stored settings of an instance's webhook when it is enabled. */
export function enabledWebhook(instance: Instance): WebhookSettings | undefined {
  const settings = instance.channels.webhook as WebhookSettings | undefined;
  return settings?.enabled && settings.url ? settings : undefined;
}

export const ORDERINGS = ['none', 'instance', 'chat'] as const satisfies readonly Ordering[];

/** Headers Pombo sets itself (framing and signing): a configured value would break the request or its signature. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** How the outbound address policy names webhooks and the variable that lets them reach private networks. */
export const WEBHOOK_ADDRESSES = { subject: 'webhooks', variable: 'WEBHOOK_ALLOW_PRIVATE_NETWORKS' } as const;

/** What a webhook's configuration may hold: its headers (count, bytes) and where it may point. */
export interface WebhookRules {
  headersMax: number;
  headersMaxBytes: number;
  /** Why the URL is refused outright (Pombo itself, a forbidden literal address), or undefined. */
  urlRefusal(url: URL): string | undefined;
  /** Why the URL is refused by the addresses its host name resolves to now, or undefined (also when it does not resolve). */
  resolvedUrlRefusal(url: URL): Promise<string | undefined>;
}

/**
 * A value holding a mask of `find` (`Bearer …cdef`, `whsec_…1234`, `https://user:***@host/`): the stored
 * value when it is exactly what `find` shows of it (a settings page that loads and saves sends it back
 * unchanged), a 400 otherwise. A masked value is never stored.
 */
function unmasked(given: string, stored: string | null | undefined, mask: (value: string) => string, field: string): string {
  if (stored && mask(stored) === given) return stored;
  throw validationError(`${field} is masked (a value as find shows it) and does not stand for the stored one: send the real value`);
}

/** What `maskCredential` and `maskSecret` put in; outside Latin-1, so never in a header value or a secret a client may set. */
const MASK = '…';

function headers(config: Obj, path: string, limits: WebhookRules, stored: Record<string, string> | undefined): Record<string, string> {
  const value = config.headers;
  if (value === undefined || value === null) return {};
  const given = object(value, `${path}.headers`);
  const entries = Object.entries(given);
  if (entries.length > limits.headersMax) {
    throw validationError(`${path}.headers has ${entries.length} headers; at most ${limits.headersMax} are allowed (WEBHOOK_HEADERS_MAX)`);
  }
  let bytes = 0;
  const out: Record<string, string> = {};
  for (const [name, raw] of entries) {
    const field = `${path}.headers.${excerpt(name)}`;
    if (!TOKEN.test(name)) throw validationError(`${field} is not a valid HTTP header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw validationError(`${field} cannot be configured: Pombo sets this header itself`);
    // The HTTP client refuses it: every delivery would fail.
    if (name.toLowerCase() === 'expect') throw validationError(`${field} cannot be configured: webhook requests are sent whole, without Expect`);
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
      throw validationError(`${field} must be a string`);
    }
    const given = String(raw);
    const text = given.includes(MASK) ? unmasked(given, stored?.[name], (value) => shownHeader(name, value), field) : given;
    if (/[\r\n\0]/.test(text)) throw validationError(`${field} must not contain line breaks`);
    if (/[^\t\x20-\x7e\x80-\xff]/.test(text)) throw validationError(`${field} must hold printable ASCII or Latin-1 characters only (HTTP header values)`);
    bytes += Buffer.byteLength(name) + Buffer.byteLength(text);
    if (bytes > limits.headersMaxBytes) {
      throw validationError(`${path}.headers hold more than ${limits.headersMaxBytes} bytes of names and values (WEBHOOK_HEADERS_MAX_BYTES)`);
    }
    out[name] = text;
  }
  return out;
}

function secret(config: Obj, path: string, stored: string | null | undefined): string | null {
  const value = optionalString(config, 'secret', `${path}.secret`);
  if (value === undefined) return null;
  if (value.includes(MASK)) return unmasked(value, stored, maskSecret, `${path}.secret`);
  const key = secretKey(value);
  if (typeof key === 'string') throw validationError(`${path}.secret ${key}`);
  return value;
}

/** The object under `webhook` in `/webhook/set` and `/instance/create` (seed 001's fields, Evolution's other spellings, Pombo's own). */
export const WEBHOOK_CONFIG_SCHEMA: JsonSchema = strictObject(nullableFields({
  enabled: booleanField('Deliver to this webhook (default true); false keeps the settings and stops deliveries.'),
  url: stringField('An http:// or https:// URL; required when enabled.', { example: 'https://example.com/hooks/pombo' }),
  events: eventListSchema(),
  headers: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] }, description: 'Headers sent with every request (find masks credential-like values).' },
  byEvents: booleanField('Append the kebab event name to the URL (…/messages-upsert).'),
  webhookByEvents: booleanField("Evolution API's other name for byEvents (the one find returns)."),
  base64: booleanField('Ask for media in base64 inside the payload.'),
  webhookBase64: booleanField("Evolution API's other name for base64 (the one find returns)."),
  secret: stringField('A Standard Webhooks secret (whsec_…): requests are signed when set.'),
  ordering: { type: 'string', enum: [...ORDERINGS], description: 'none (default), instance (one at a time, in log order) or chat (in order per remoteJid).' },
  maxInFlight: { type: 'integer', minimum: 1, maximum: 1024, description: 'Requests in flight at once to this webhook (default WEBHOOK_MAX_IN_FLIGHT).' },
  filter: PAYLOAD_FILTER_SCHEMA,
}));

/** A flag Evolution API spells two ways (`byEvents`, `webhookByEvents`): either works; both must agree. */
function flag(config: Obj, name: string, evolutionName: string, path: string): boolean {
  const short = optionalBoolean(config, name, `${path}.${name}`);
  const long = optionalBoolean(config, evolutionName, `${path}.${evolutionName}`);
  if (short !== undefined && long !== undefined && short !== long) {
    throw validationError(`${path}.${name} and ${path}.${evolutionName} are the same setting and disagree: send one of them`);
  }
  return short ?? long ?? false;
}

/**
 * Validates `{"webhook": {…}}`; `url` is required unless the webhook is disabled. `stored` is the webhook
 * it replaces: a URL, header value or secret sent back exactly as `find` masked it keeps its stored value.
 */
export function parseWebhookSettings(config: Obj, path: string, limits: WebhookRules, stored?: WebhookSettings): WebhookSettings {
  const enabled = optionalBoolean(config, 'enabled', `${path}.enabled`) ?? true;
  const given = config.url === undefined || config.url === null || (!enabled && config.url === '') ? null : httpUrl(config.url, `${path}.url`);
  if (enabled && !given) throw validationError(`${path}.url is required when the webhook is enabled (an http:// or https:// URL)`);
  const url = given && isRedactedUrl(given) ? unmasked(given, stored?.url, redactUrl, `${path}.url`) : given;
  const refused = url ? limits.urlRefusal(new URL(url)) : undefined;
  if (refused) throw validationError(`${path}.url is refused: ${refused}`);
  return {
    enabled,
    url,
    events: eventList(config, 'events', `${path}.events`),
    headers: headers(config, path, limits, stored?.headers),
    base64: flag(config, 'base64', 'webhookBase64', path),
    byEvents: flag(config, 'byEvents', 'webhookByEvents', path),
    secret: secret(config, path, stored?.secret),
    ordering: oneOf(config, 'ordering', ORDERINGS, 'none', `${path}.ordering`),
    maxInFlight: optionalInteger(config, 'maxInFlight', 1, 1024, `${path}.maxInFlight`) ?? null,
    filter: parsePayloadFilter(config.filter, `${path}.filter`),
  };
}

/**
 * `parseWebhookSettings`, then the URL's host name resolved with the address policy: a name that leads
 * where no delivery may go is a 400 now, not dead deliveries later.
 */
export async function checkedWebhookSettings(config: Obj, path: string, limits: WebhookRules, stored?: WebhookSettings): Promise<WebhookSettings> {
  const settings = parseWebhookSettings(config, path, limits, stored);
  await refuseResolvedUrl(settings.url, `${path}.url`, limits);
  return settings;
}

/** A 400 when `url` is a URL whose host name resolves where the address policy refuses to connect (the message names the variable). */
export async function refuseResolvedUrl(url: unknown, field: string, limits: WebhookRules): Promise<void> {
  if (typeof url !== 'string' || !URL.canParse(url)) return;
  const refused = await limits.resolvedUrlRefusal(new URL(url));
  if (refused) throw validationError(`${field} is refused: ${refused}`);
}

/** `Bearer …abcd`: keeps an auth scheme and the last characters of long values only. */
export function maskCredential(value: string): string {
  const [, scheme, rest = value] = /^(\w+)\s+(\S.*)$/.exec(value) ?? [];
  const tail = rest.length >= 12 ? rest.slice(-4) : '';
  return scheme ? `${scheme} …${tail}` : `…${tail}`;
}

/** A header's value as `find` shows it: masked when its name looks like a credential. */
const shownHeader = (name: string, value: string): string => (CREDENTIAL_NAME.test(name) ? maskCredential(value) : value);

/** The settings as `find` shows them: the secret, credential-like header values and the URL's credentials masked. */
export function maskedSettings(settings: WebhookSettings): Record<string, unknown> {
  const headers = Object.fromEntries(
    Object.entries(settings.headers).map(([name, value]) => [name, shownHeader(name, value)]),
  );
  const previousSecrets = previousSecretsOf(settings).map(({ secret, expiresAt }) => ({ secret: maskSecret(secret), expiresAt }));
  // The times only (each what POST /webhook/replay takes); positions are the log's, not the API's.
  const pauses = pausesOf(settings).flatMap(({ from, to }) => (from && to ? [{ from, to }] : []));
  return {
    ...settings,
    events: selectedKeys(settings.events),
    url: settings.url && redactUrl(settings.url),
    headers,
    secret: settings.secret && maskSecret(settings.secret),
    previousSecrets,
    // The newest of them, under the names `find` gave it when only one was kept: clients reading those still work.
    previousSecret: previousSecrets[0]?.secret ?? null,
    previousSecretExpiresAt: previousSecrets[0]?.expiresAt ?? null,
    disabledAt: settings.disabledAt ?? null,
    disabledReason: settings.disabledReason ?? null,
    failingSince: settings.failingSince ?? null,
    pausedAt: settings.pausedAt ?? null,
    pausedAfter: undefined,
    paused: undefined,
    pauses,
    // The newest of them, under the name `find` gave it when only one was kept: clients reading it still work.
    lastPause: pauses[0] ?? null,
  };
}
