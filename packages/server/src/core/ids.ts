import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** 2^40: each half of the 80 random bits is kept as a number below it (exact in a double). */
const HALF = 2 ** 40;

/** The last id's parts: its millisecond, and its random bits as two 40-bit halves; the encodings that change rarely are kept. */
let lastTime = -1;
let timeText = '';
let high = 0;
let highText = '';
let low = 0;

/** `count` Crockford base-32 characters of `value`, most significant first. */
function encode(value: number, count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) {
    out = CROCKFORD[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

/** A 40-bit number from five bytes, big-endian. */
const fortyBits = (bytes: Buffer, at: number): number => bytes.readUIntBE(at, 5);

/**
 * A ULID: 48 bits of milliseconds then 80 random bits, monotonic within a process (within one
 * millisecond, and when the clock steps back, the random bits count up), lexically time-sortable.
 * Only the low half of the random bits is encoded again for each id of a millisecond.
 */
export function ulid(now = Date.now()): string {
  if (now <= lastTime) {
    if (++low === HALF) {
      low = 0;
      high = (high + 1) % HALF;
      highText = encode(high, 8);
    }
  } else {
    lastTime = now;
    timeText = encode(now, 10);
    const bytes = randomBytes(10);
    high = fortyBits(bytes, 0);
    highText = encode(high, 8);
    low = fortyBits(bytes, 5);
  }
  return timeText + highText + encode(low, 8);
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
