import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
let lastRandom = new Uint8Array(10);

/** Increments an 80-bit big-endian number in place; keeps ids monotonic within one millisecond. */
function increment(bytes: Uint8Array): void {
  for (let i = bytes.length - 1; i >= 0; i--) {
    const next = (bytes[i] ?? 0) + 1;
    bytes[i] = next & 0xff;
    if (next <= 0xff) return;
  }
}

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out;
}

/** A ULID: 48 bits of milliseconds then 80 random bits, monotonic within a process, lexically time-sortable. */
export function ulid(now = Date.now()): string {
  if (now <= lastTime) {
    increment(lastRandom);
  } else {
    lastTime = now;
    lastRandom = randomBytes(10);
  }
  return encodeTime(lastTime) + encodeRandom(lastRandom);
}

/** A globally unique, time-sortable event id: `evt_` + ULID. */
export const newEventId = (): string => `evt_${ulid()}`;

/** The millisecond timestamp encoded in an id made by `ulid` (with or without a prefix). */
export function timeOfId(id: string): number | undefined {
  const body = id.slice(id.indexOf('_') + 1, id.indexOf('_') + 11);
  let ms = 0;
  for (const char of body) {
    const digit = CROCKFORD.indexOf(char);
    if (digit < 0) return undefined;
    ms = ms * 32 + digit;
  }
  return body.length === 10 ? ms : undefined;
}

/** A random secret token, URL-safe. */
export const newToken = (bytes = 24): string => randomBytes(bytes).toString('base64url');
