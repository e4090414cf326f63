/**
 * What counts as a credential, and how it is hidden, in logs and in the answers that show stored
 * configuration (`find`): one rule for both.
 */

/** What the logger writes in place of a credential. */
export const CENSOR = '[redacted]';

/** What a masked URL holds in place of a password or a credential-like query value (stays a valid URL). */
const URL_MASK = '***';

/** What a credential's name contains. */
const CREDENTIAL_WORDS = 'auth|token|secret|key|pass|signature|cookie|jwt|session|credential|bearer';

/** Names (headers, query parameters) whose values are credentials. */
export const CREDENTIAL_NAME = new RegExp(`${CREDENTIAL_WORDS}|sig$`, 'i');

const parsedUrl = (href: string): URL | undefined => (URL.canParse(href) ? new URL(href) : undefined);

/**
 * The URL with its credentials masked: the password (or a user name given alone, often a token) and
 * the values of credential-like query parameters (`?token=…`, `?api_key=…`). Not a URL: masked as
 * `redactUrlText` does.
 */
export function redactUrl(href: string): string {
  const url = parsedUrl(href);
  if (!url) return redactUrlText(href);
  if (url.password) url.password = URL_MASK;
  else if (url.username) url.username = URL_MASK;
  for (const name of new Set(url.searchParams.keys())) {
    if (CREDENTIAL_NAME.test(name)) url.searchParams.set(name, URL_MASK);
  }
  return url.toString();
}

/** The user information of a URL, with or without a scheme (`nats://user:pass@`, `user:pass@host:4222`): up to the last `@` before the path, as the URL parser reads it. */
const USER_INFO = /(^|\/\/)([^/?#\s]*)@/;

/** A query parameter: `?name=value` or `&name=value`. */
const QUERY_PAIR = /([?&])([^=&#\s]*)=([^&#\s]*)/g;

/**
 * A URL-ish value as the operator wrote it, with the same credentials masked as `redactUrl` masks,
 * found by pattern rather than by parsing: what a configuration error echoes is often exactly the
 * URL that does not parse (a bad scheme or port), and it must still not print the password.
 */
export function redactUrlText(text: string): string {
  const withoutUser = text.replace(USER_INFO, (_match, start: string, userInfo: string) => {
    const colon = userInfo.indexOf(':');
    return `${start}${colon === -1 ? URL_MASK : `${userInfo.slice(0, colon)}:${URL_MASK}`}@`;
  });
  return withoutUser.replace(QUERY_PAIR, (match, separator: string, name: string) =>
    CREDENTIAL_NAME.test(name) ? `${separator}${name}=${URL_MASK}` : match,
  );
}

/** Whether a URL holds what `redactUrl` puts in (a client sending back what `find` showed). */
export function isRedactedUrl(href: string): boolean {
  const url = parsedUrl(href);
  if (!url) return false;
  if (url.password === URL_MASK || (!url.password && url.username === URL_MASK)) return true;
  return [...url.searchParams].some(([name, value]) => CREDENTIAL_NAME.test(name) && value === URL_MASK);
}

/** `name: value`, `name=value` and `"name": "value"` where the name looks like a credential. */
const CREDENTIAL_PAIR = new RegExp(
  String.raw`("?)([\w-]*(?:${CREDENTIAL_WORDS})[\w-]*)\1(\s*[:=]\s*)("(?:[^"\\]|\\.)*"?|(?:(?:bearer|basic|digest|token)\s+)?[^\s,;&}\]]+)`,
  'gi',
);

/** Free text (a receiver's answer) with the values of credential-like fields masked. */
export function redactText(text: string): string {
  return text.replace(CREDENTIAL_PAIR, (_match, quote: string, name: string, separator: string, value: string) =>
    `${quote}${name}${quote}${separator}${value.startsWith('"') ? `"${CENSOR}"` : CENSOR}`,
  );
}
