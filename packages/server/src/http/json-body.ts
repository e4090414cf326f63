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
 * every read), so an accepted event could never be read back.
 */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === BACKSLASH) i++;
      else if (code === QUOTE) inString = false;
    } else if (code === QUOTE) inString = true;
    else if (code === OPEN_OBJECT || code === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (code === CLOSE_OBJECT || code === CLOSE_ARRAY) depth--;
  }
  return false;
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
    parse(request, body as string, done);
  });
}
