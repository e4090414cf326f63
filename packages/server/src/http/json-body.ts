import type { FastifyInstance } from 'fastify';
import { validationError } from '../core/errors.ts';

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Whether JSON text nests objects and arrays deeper than `max`, read before parsing: a value nested a
 * few thousand levels parses, but overflows the stack of everything that walks it later (stringify on
 * every read), so an accepted event could never be read back. Strings, most of an event's text, are
 * skipped with `indexOf` (half the cost of reading them a character at a time).
 */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      i = stringEnd(text, i);
      if (i < 0) return false; // an unterminated string: the parser says so
    } else if (code === OPEN_OBJECT || code === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (code === CLOSE_OBJECT || code === CLOSE_ARRAY) depth--;
  }
  return false;
}

/** Where the string opened at `start` ends: its next quote that an odd number of backslashes does not escape; -1 if none. */
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  while (end !== -1) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
  return -1;
}

const FORBIDDEN_KEY =
  'the body has a "__proto__" key, or "constructor" with a "prototype" key, which Pombo refuses (they could change the objects that read it): rename the key';

/** Whether plain JSON.parse takes the text (asked only of a body the guarded parser refused). */
function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Fastify's own JSON parser (a `__proto__` or `constructor.prototype` key is refused), after a check of
 * the nesting depth (SERVER_BODY_MAX_DEPTH).
 */
export function jsonBodies(app: FastifyInstance, maxDepth: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (nestsDeeperThan(body as string, maxDepth)) {
      done(validationError(`the body nests objects and arrays more than ${maxDepth} levels deep (SERVER_BODY_MAX_DEPTH)`), undefined);
      return;
    }
    parse(request, body as string, (error, value) => {
      // Refused although it parses: the parser refuses these keys with the words it uses for broken JSON.
      if (error && parsesAsJson(body as string)) done(validationError(FORBIDDEN_KEY), undefined);
      else done(error, value);
    });
  });
}
