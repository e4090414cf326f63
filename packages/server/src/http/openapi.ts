import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context.ts';
import { ERRORS } from '../core/errors.ts';
import { renderDocsPage, type OpenApiDocument } from './docs-page.ts';
import { ANY_KEY, apiSchema, GLOBAL_KEY, TAGS } from '../core/schemas.ts';

/**
 * Routes that are not part of the HTTP API and so not in the OpenAPI document: pages for people
 * (the dashboard). Every other route must have a schema built with `apiSchema` (core/schemas.ts):
 * test/http/openapi.test.ts enumerates the server's routes and fails for one missing from the
 * document. WebSockets (/socket.io, /events/ws) are upgrades, not routes, and need no entry.
 */
export const NON_API_ROUTE_PREFIXES: readonly string[] = ['/manager'];

const isNonApiRoute = (url: string): boolean =>
  NON_API_ROUTE_PREFIXES.some((prefix) => url === prefix || url.startsWith(`${prefix}/`));

export interface RegisteredRoute {
  readonly method: string;
  readonly url: string;
}

const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route added to the server (its HEAD twins included), as Fastify's onRoute hook saw them. */
export const routesOf = (app: FastifyInstance): readonly RegisteredRoute[] => registered.get(app) ?? [];

/**
 * Whether a registered route belongs in the OpenAPI document: not the HEAD twin Fastify adds to
 * every GET, not the CORS preflight (`OPTIONS *`, @fastify/cors), not a page of NON_API_ROUTE_PREFIXES.
 */
export const isApiRoute = (route: RegisteredRoute): boolean =>
  route.method !== 'HEAD' && route.method !== 'OPTIONS' && !isNonApiRoute(route.url);

/** The body of every error answer (docs/errors.md), with the stable codes. */
const ERROR_BODY = {
  type: 'object' as const,
  required: ['status', 'error', 'code', 'response'],
  properties: {
    status: { type: 'integer' as const, description: 'The HTTP status, again.' },
    error: { type: 'string' as const, description: 'Its reason phrase (Bad Request, …).' },
    code: { type: 'string' as const, enum: Object.keys(ERRORS), description: 'The stable code: match on it in programs.' },
    response: {
      type: 'object' as const,
      properties: { message: { type: 'array' as const, items: { type: 'string' as const }, description: 'For people: the first names the problem (and the field).' } },
    },
  },
};
const ERROR_RESPONSE = { description: 'An error: see docs/errors.md.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };

/** What the route schemas cannot say: which bodies may be left out (`optionalBody`), and the error shape of every answer. */
function finish<T extends OpenApiDocument>(document: T): T {
  for (const methods of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(methods)) {
      const body = operation.requestBody;
      // @fastify/swagger marks every body required.
      if (body?.content?.['application/json']?.schema?.['x-optional']) body.required = false;
      operation.responses = { ...operation.responses, '4XX': ERROR_RESPONSE, '5XX': ERROR_RESPONSE };
    }
  }
  return document;
}

/**
 * Generates OpenAPI 3.1 from the route schemas (the ones requests are validated with) and serves it
 * at `/docs/openapi.json`, with a reference page at `/docs`. Neither needs a key: the document
 * describes routes and fields, never a secret. Registered before the routes, whose schemas it collects.
 */
export function openApi(app: FastifyInstance, context: Pick<AppContext, 'config'>): void {
  const routes: RegisteredRoute[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Pombo HTTP API',
        version: '0.1.0',
        description:
          "Evolution API's instance, channel and message routes, plus Pombo's ingest, event log, delivery log and replay. " +
          'Errors have the shape and stable codes of docs/errors.md: a 400 names the field.',
      },
      servers: [{ url: context.config.server.url }],
      tags: TAGS.map((tag) => ({ ...tag })),
      components: {
        schemas: { Error: ERROR_BODY },
        securitySchemes: {
          [ANY_KEY]: { type: 'apiKey', in: 'header', name: 'apikey', description: 'The global API key, or the instance token (the `hash` /instance/create returned) on its own instance.' },
          [GLOBAL_KEY]: { type: 'apiKey', in: 'header', name: 'apikey', description: 'The global API key (AUTHENTICATION_API_KEY, or data/api-key).' },
        },
      },
    },
    hideUntagged: true,
    transformObject: (documentObject) => finish(('openapiObject' in documentObject ? documentObject.openapiObject : {}) as OpenApiDocument),
    transform: ({ schema, url }) => ({ schema: isNonApiRoute(url) ? { ...schema, hide: true } : schema, url }),
  });

  void app.register(async (docs) => {
    docs.get('/docs/openapi.json', { schema: apiSchema({ tag: 'Operations', summary: 'This OpenAPI 3.1 document', key: 'none' }) }, async () => app.swagger());
    const page = apiSchema({ tag: 'Operations', summary: 'The API reference page, rendered from the OpenAPI document', key: 'none' });
    let html: string | undefined;
    docs.get('/docs', { schema: page }, async (_request, reply) => {
      html ??= renderDocsPage(app.swagger() as unknown as OpenApiDocument);
      reply.type('text/html; charset=utf-8');
      return html;
    });
  });
}
