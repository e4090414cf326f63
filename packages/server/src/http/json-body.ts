import { errorCodes, type FastifyInstance } from 'fastify';
import { excerpt, PomboError, validationError } from '../core/errors.ts';

const BYTE_ORDER_MARK = 0xfeff;

const FORBIDDEN_KEY =
  'the body has a "__proto__" key, or "constructor" with a "prototype" key, which Pombo refuses (they could change the objects that read it): rename the key';

/**
 * Why a parsed body is refused, in one walk that stops at the first reason; undefined if it is not.
 * - Nesting deeper than `levels`: a value nested a few thousand levels parses (V8's parser does not
 *   recurse), but overflows the stack of everything that walks it later (stringify on every read), so
 *   an accepted event could never be read back. The walk goes no deeper than `levels`.
 * - A `__proto__` key, or `constructor` holding a `prototype` key, as Fastify's own parser refuses them.
 * Walking the parsed value costs a fifth of scanning its text (strings, most of an event, are skipped
 * whole), and replaces the two regular expressions Fastify's parser runs over every body.
 */
function refusal(value: unknown, levels: number): 'depth' | 'key' | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (levels === 0) return 'depth';
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = refusal(value[index], levels - 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (key === '__proto__' || (key === 'constructor' && typeof child === 'object' && child !== null && Object.hasOwn(child, 'prototype'))) return 'key';
    const found = refusal(child, levels - 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * JSON bodies, parsed by V8 and then checked in one walk (see `refusal`): the nesting depth
 * (SERVER_BODY_MAX_DEPTH) and the keys that could change the objects that read them. Text that is not
 * JSON gets Fastify's own error, which http-server.ts answers.
 */
export function jsonBodies(app: FastifyInstance, maxDepth: number): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // A compressed body would be read as if it were not: refused, not stored as whatever it decodes to.
    const encoding = request.headers['content-encoding'];
    if (encoding && encoding.toLowerCase() !== 'identity') return done(new PomboError('POMBO_ERR_UNSUPPORTED_ENCODING', { encoding: excerpt(encoding) }), undefined);
    let text = body as string;
    // An empty body reads as an empty object, as Evolution API's Express reads it: clients that send
    // `content-type: application/json` on every request (a DELETE, a logout) work unchanged, and a
    // route that needs fields names them.
    if (text.length === 0) return done(null, {});
    if (text.charCodeAt(0) === BYTE_ORDER_MARK) text = text.slice(1);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), undefined);
    }
    const refused = refusal(value, maxDepth);
    if (refused === 'depth') done(validationError(`the body nests objects and arrays more than ${maxDepth} levels deep (SERVER_BODY_MAX_DEPTH)`), undefined);
    else if (refused) done(validationError(FORBIDDEN_KEY), undefined);
    else done(null, value);
  });
}
