import { WebhookVerificationError } from '../errors.ts';

export type HeaderBag = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** How far the `webhook-timestamp` may be from now. Default 300 s, as Standard Webhooks recommends. */
  toleranceSeconds?: number;
  /** The current time in ms (tests). */
  now?: number;
}

const PREFIX = 'whsec_';

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const bag = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(bag).find((candidate) => candidate.toLowerCase() === name);
  const value = key === undefined ? undefined : bag[key];
  return Array.isArray(value) ? value[0] : value;
}

const fromBase64 = (text: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
const toBase64 = (bytes: ArrayBuffer): string => btoa(String.fromCharCode(...new Uint8Array(bytes)));

/** Compares in time independent of where the strings first differ. */
function constantTimeEqual(a: string, b: string): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) difference |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return difference === 0;
}

async function sign(secret: string, content: string): Promise<string> {
  let key: Uint8Array<ArrayBuffer>;
  try {
    key = fromBase64(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret);
  } catch {
    throw new WebhookVerificationError('the secret is not a Standard Webhooks secret (whsec_ followed by base64)');
  }
  const hmacKey = await globalThis.crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return toBase64(await globalThis.crypto.subtle.sign('HMAC', hmacKey, new TextEncoder().encode(content)));
}

/**
 * Verifies a Standard Webhooks (v1) request as Pombo signs it and returns the parsed payload.
 * Pass the raw body exactly as received (not re-serialized JSON). Throws `WebhookVerificationError`.
 */
export async function verifyWebhook(body: string | Uint8Array, headers: HeaderBag, secret: string, options: VerifyOptions = {}): Promise<unknown> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature header');
  const seconds = Number(timestamp);
  const now = (options.now ?? Date.now()) / 1000;
  const tolerance = options.toleranceSeconds ?? 300;
  if (!Number.isInteger(seconds)) throw new WebhookVerificationError('webhook-timestamp is not a number of seconds');
  if (seconds < now - tolerance) throw new WebhookVerificationError('the message is too old (webhook-timestamp)');
  if (seconds > now + tolerance) throw new WebhookVerificationError('the message is timestamped in the future (webhook-timestamp)');
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const expected = await sign(secret, `${id}.${timestamp}.${text}`);
  const matches = signatures
    .split(' ')
    .map((entry) => entry.split(','))
    .some(([version, signature]) => version === 'v1' && signature !== undefined && constantTimeEqual(signature, expected));
  if (!matches) throw new WebhookVerificationError('no matching signature: check the secret and that the body is passed unmodified');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new WebhookVerificationError('the signature matches but the body is not JSON');
  }
}
