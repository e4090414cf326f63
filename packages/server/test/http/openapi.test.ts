import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { isApiRoute, openApi, routesOf, type RegisteredRoute } from '../../src/http/openapi.ts';
import { apiSchema } from '../../src/core/schemas.ts';
import type { Config } from '../../src/config/index.ts';
import { ERRORS } from '../../src/core/errors.ts';
import { startPombo, type Harness } from '../helpers/pombo-harness.ts';

type Spec = { openapi: string; paths: Record<string, Record<string, { summary?: string; parameters?: Array<{ in: string; name: string }>; requestBody?: any }>> };

let pombo: Harness;
before(async () => {
  // Every channel on, so that every route a deployment can have is registered.
  pombo = await startPombo({ WEBSOCKET_ENABLED: 'true' });
});
after(async () => {
  await pombo.close();
});

/** `/events/:instanceName/:eventId` → `/events/{instanceName}/{eventId}`. */
const openApiPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}');

/** Routes of the API (see isApiRoute) that the document lacks, or shows without a summary or a path parameter. */
function missingFromSpec(routes: readonly RegisteredRoute[], spec: Spec): string[] {
  return routes
    .filter(isApiRoute)
    .filter((route) => {
      const operation = spec.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      const params = [...route.url.matchAll(/:(\w+)/g)].map((match) => match[1]);
      const documented = new Set(operation?.parameters?.filter((p) => p.in === 'path').map((p) => p.name));
      return !operation?.summary || params.some((name) => !documented.has(name as string));
    })
    .map((route) => `${route.method} ${route.url}`);
}

test('every route the server registered is in /docs/openapi.json with its method, summary and path parameters', async () => {
  const spec = await pombo.api<Spec>('GET', '/docs/openapi.json', undefined, null);
  assert.equal(spec.status, 200, 'the document needs no key');
  assert.equal(spec.body.openapi, '3.1.0');
  const routes = routesOf(pombo.pombo.http);
  assert.ok(routes.length > 30, `routes were enumerated (${routes.length})`);
  assert.deepEqual(
    missingFromSpec(routes, spec.body),
    [],
    'give each route `schema: apiSchema({...})` (packages/server/src/http/schemas.ts), or list a non-API page in NON_API_ROUTE_PREFIXES',
  );
  for (const [method, path] of [['post', '/webhook/set/{instanceName}'], ['post', '/instance/create'], ['get', '/events/{instanceName}']] as const) {
    assert.ok(spec.body.paths[path]?.[method], `${method} ${path}`);
  }
});

test('the document shows the schemas requests are validated with', async () => {
  const { body: spec } = await pombo.api<Spec>('GET', '/docs/openapi.json', undefined, null);
  const webhookSet = spec.paths['/webhook/set/{instanceName}']?.post?.requestBody.content['application/json'].schema;
  assert.deepEqual(webhookSet.required, ['webhook']);
  assert.equal(webhookSet.additionalProperties, false);
  const fields = Object.keys(webhookSet.properties.webhook.properties);
  for (const field of ['enabled', 'url', 'events', 'headers', 'byEvents', 'webhookByEvents', 'base64', 'webhookBase64', 'secret']) assert.ok(fields.includes(field), field);
  const page = spec.paths['/events/{instanceName}']?.get?.parameters?.find((p) => p.name === 'limit') as any;
  const errorBody = (spec as any).components.schemas.Error;
  assert.deepEqual(errorBody.properties.code.enum, Object.keys(ERRORS), 'every error code, as docs/errors.md lists them');
  assert.equal((spec.paths['/instance/create']?.post as any).responses['4XX'].content['application/json'].schema.$ref, '#/components/schemas/Error');
  assert.deepEqual([page.schema.minimum, page.schema.maximum, page.schema.default], [1, 1000, 100]);
});

test('a route added without a schema is caught', async () => {
  const app = Fastify();
  openApi(app, { config: { server: { url: 'http://localhost' } } as Config });
  void app.register(async (api) => {
    api.get('/documented/:id', { schema: apiSchema({ tag: 'Operations', summary: 'documented', key: 'none', params: { type: 'object', properties: { id: { type: 'string' } } } }) }, async () => 'ok');
    api.get('/forgotten', async () => 'ok');
    api.get('/manager/page', async () => 'a dashboard page');
  });
  await app.ready();
  assert.deepEqual(missingFromSpec(routesOf(app), app.swagger() as unknown as Spec), ['GET /forgotten']);
  await app.close();
});

test('/docs is a page rendered from the document, with nothing loaded from elsewhere', async () => {
  const response = await fetch(`${pombo.url}/docs`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/html/);
  const html = await response.text();
  const { body: spec } = await pombo.api<Spec>('GET', '/docs/openapi.json', undefined, null);
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const method of Object.keys(methods)) assert.ok(html.includes(`id="${method}-${path}"`), `${method} ${path} on the page`);
  }
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|src=|href="(?!\/|#)/i, 'no script, stylesheet, image or link to another host');
  assert.match(html, /href="\/docs\/openapi\.json"/);
});
