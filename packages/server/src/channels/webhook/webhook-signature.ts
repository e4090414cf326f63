import { createHmac } from 'node:crypto';

const PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The key of a Standard Webhooks secret (`whsec_` + base64 of 24 to 64 random bytes), or a message
 * saying what is wrong with it (the caller names the field or variable).
 */
export function secretKey(secret: string): Buffer | string {
  if (secret.includes('…')) return 'is masked (as find shows it): send the full secret, or leave it out to stop signing';
  if (!secret.startsWith(PREFIX)) return 'must be a Standard Webhooks secret: "whsec_" followed by base64 (e.g. whsec_$(openssl rand -base64 32))';
  const encoded = secret.slice(PREFIX.length);
  const key = Buffer.from(encoded, 'base64');
  if (!BASE64.test(encoded) || key.length < 24 || key.length > 64) {
    return 'must be "whsec_" followed by the base64 of 24 to 64 random bytes (e.g. whsec_$(openssl rand -base64 32))';
  }
  return key;
}

/** `whsec_…abcd`: enough to tell secrets apart, never enough to use one. */
export const maskSecret = (secret: string): string => `${PREFIX}…${secret.slice(-4)}`;

/**
 * The Standard Webhooks v1 headers: `webhook-signature` is `v1,` + base64 HMAC-SHA256 of
 * `${id}.${timestamp}.${body}`, over exactly the bytes sent; with several keys (a secret being
 * rotated), one such entry per key, separated by spaces, as the specification allows.
 */
export function signatureHeaders(keys: Buffer | readonly Buffer[], id: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000));
  const signatures = (Buffer.isBuffer(keys) ? [keys] : keys).map(
    (key) => `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64')}`,
  );
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signatures.join(' ') };
}
