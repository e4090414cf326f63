import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { routesOf } from '../../src/http/openapi.ts';

/**
 * The issue's "done when": thousands of generated bad requests across every route the server has
 * (read from Fastify itself, so routes added later are covered without touching this file), with the
 * global key and with instance tokens, get no 5xx and store nothing.
 *
 * Every request carries at least one defect that must make the server refuse it (a missing or wrong
 * key, an instance that does not exist, a body that is not JSON, of the wrong media type, too deep,
 * too large, or with a field a strict schema does not know), plus random noise (wrong types, huge
 * strings, deep values, unknown fields and query parameters, odd headers) that the server must
 * survive whatever the order in which it checks things.
 */

const BODY_LIMIT = 16 * 1024;
const REQUESTS_PER_RUN = 8;
const RUNS = 260; // 2,080 requests

let pombo: Harness;
let sandboxName: string;
let ingestName: string;
let sandboxToken: string;
let ingestToken: string;
/** Routes whose JSON body is a strict object (an unknown field is refused), from the OpenAPI document. */
const strictBodies = new Set<string>();

interface Route {
  method: string;
  url: string;
}
let routes: Route[] = [];

before(async () => {
  pombo = await startPombo({ SERVER_BODY_LIMIT_BYTES: String(BODY_LIMIT) });
  sandboxName = uniqueName('fz-s');
  ingestName = uniqueName('fz-i');
  sandboxToken = (await pombo.sandbox(sandboxName)).token;
  ingestToken = (await pombo.api('POST', '/instance/create', { instanceName: ingestName, integration: 'INGEST' })).body.hash;
  const seen = new Set<string>();
  routes = routesOf(pombo.pombo.http).filter((route) => {
    const key = `${route.method} ${route.url}`;
    return !seen.has(key) && seen.add(key) !== undefined;
  });
  const doc = (await pombo.api('GET', '/docs/openapi.json')).body as { paths: Record<string, Record<string, any>> };
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      if (operation.requestBody?.content?.['application/json']?.schema?.additionalProperties === false) {
        strictBodies.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
      }
    }
  }
});
after(() => pombo.close());

/** What must not change: the log's head, the instances (with their channel configurations). */
async function state(): Promise<string> {
  const { store, instances } = pombo.pombo.context;
  return JSON.stringify({ head: await store.headPosition(), instances: instances.list() });
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
type Defect = 'no-key' | 'bad-key' | 'wrong-token' | 'no-instance' | 'bad-json' | 'media-type' | 'too-deep' | 'too-large' | 'unknown-field';

const hugeString = fc.integer({ min: 1000, max: 3 * BODY_LIMIT }).map((length) => 'ж'.repeat(length));
const nested = (depth: number, leaf: unknown = 1): unknown => {
  let value = leaf;
  for (let level = 0; level < depth; level++) value = level % 2 ? [value] : { a: value };
  return value;
};
/** Values of every JSON type, from ordinary to hostile. */
const junk: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: hugeString },
  { weight: 1, arbitrary: fc.integer({ min: 5, max: 40 }).map((depth) => nested(depth)) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0, 1e308, -0, 2 ** 53 + 1, '', ' ', '\u0000', '\ud800', '../../etc/passwd', 'http://169.254.169.254/', '__proto__', 'constructor', 'MESSAGES_UPSERT', 'x@g.us', '5511999990000') },
);
const FIELDS = ['instanceName', 'integration', 'number', 'token', 'qrcode', 'text', 'media', 'mediatype', 'caption', 'fileName', 'subject', 'participants', 'action', 'presence', 'event', 'data', 'events', 'id', 'sender', 'instance', 'webhook', 'url', 'enabled', 'headers', 'secret', 'byEvents', 'base64', 'ordering', 'maxInFlight', 'status', 'ids', 'from', 'to', 'description', 'realtime', 'rabbitmq', 'sqs', 'kafka', 'nats', 'pusher', 'websocket', 'where', 'limit', 'apikey'];
/** An object with known field names holding junk, and sometimes names nobody knows. */
const noisyObject = fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 12 })), junk, { maxKeys: 6 });
const noisyBody: fc.Arbitrary<unknown> = fc.oneof({ weight: 4, arbitrary: noisyObject }, { weight: 1, arbitrary: junk }, { weight: 1, arbitrary: fc.array(noisyObject, { maxLength: 4 }) });
const queryValue = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('-1', '0', '1e9', 'NaN', '%', 'MESSAGES_UPSERT,nope', 'evt_00000000000000000000000000', 'failed'), hugeString.map((text) => text.slice(0, 2000)));
const query = fc.dictionary(fc.oneof(fc.constantFrom('limit', 'after', 'events', 'event', 'status', 'groupJid', 'endpoint', 'instanceName', 'instanceId', 'apikey', 'getParticipants'), fc.string({ maxLength: 8 })), queryValue, { maxKeys: 4 });
const paramValue = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('..', '%2e%2e', 'evt_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'ep_x', 'a'.repeat(300), '\u0000', '<script>'));
const header = fc.tuple(fc.constantFrom('idempotency-key', 'x-instance-token', 'authorization', 'x-forwarded-for', 'accept', 'x-junk', 'cookie', 'origin'), fc.string({ maxLength: 40 }).map((text) => text.replace(/[^\x20-\x7e]/g, 'x')));

interface Generated {
  route: Route;
  defect: Defect;
  key: 'global' | 'own' | 'other' | 'none' | 'garbage';
  instance: 'sandbox' | 'ingest' | 'missing';
  missingName: string;
  params: string[];
  query: Record<string, string>;
  body: unknown;
  rawBody: string;
  contentType: string;
  headers: Array<[string, string]>;
  depth: number;
}

function defectsFor(route: Route): Defect[] {
  const defects: Defect[] = [];
  const isInstanceRoute = route.url.includes(':instanceName');
  const isPublic = !route.url.startsWith('/instance') && !isInstanceRoute && !['/metrics'].includes(route.url);
  if (!isPublic || route.url === '/instance/create') defects.push('no-key', 'bad-key');
  if (isInstanceRoute) defects.push('wrong-token', 'no-instance');
  if (route.url === '/instance/create' || route.url === '/metrics') defects.push('wrong-token');
  if (BODY_METHODS.has(route.method)) defects.push('bad-json', 'media-type', 'too-deep', 'too-large');
  if (strictBodies.has(`${route.method} ${route.url}`)) defects.push('unknown-field');
  return defects;
}

/** Built once the routes are known (they are read from the running server). */
const generated = (): fc.Arbitrary<Generated> => fc
  .integer({ min: 0, max: routes.length - 1 })
  .chain((index) => {
    const route = routes[index] as Route;
    const defects = defectsFor(route);
    return fc.record({
      route: fc.constant(route),
      // Read-only routes open to anyone (/, /health, /docs, manager pages) get noise only.
      defect: defects.length ? fc.constantFrom(...defects) : fc.constant('no-key' as Defect),
      // Mostly keys that would be accepted, so that the other defects are what the server meets.
      key: fc.constantFrom('global', 'own', 'global', 'own', 'other', 'none', 'garbage') as fc.Arbitrary<Generated['key']>,
      instance: fc.constantFrom('sandbox', 'ingest') as fc.Arbitrary<Generated['instance']>,
      missingName: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), fc.string({ minLength: 1, maxLength: 80 })),
      params: fc.array(paramValue, { minLength: 3, maxLength: 3 }),
      query,
      body: noisyBody,
      rawBody: fc.constantFrom('{', '{"a":', '[1,2', "{'a':1}", 'nul', '{"a":1}}', '\u0000', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '1 2'),
      contentType: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/octet-stream', 'image/png'),
      headers: fc.array(header, { maxLength: 3 }),
      depth: fc.integer({ min: 65, max: 2000 }),
    });
  });

/** The HTTP request a generated case describes. */
function build(input: Generated): { method: string; path: string; headers: Record<string, string>; body?: string } {
  const { route, defect } = input;
  const names = { sandbox: sandboxName, ingest: ingestName, missing: `zz-${input.missingName}` };
  const instance = defect === 'no-instance' ? 'missing' : input.instance;
  let paramIndex = 0;
  const path = (route.url === '*' ? '/*' : route.url)
    .replace(':instanceName', encodeURIComponent(names[instance]))
    .replace(/:(\w+)/g, () => encodeURIComponent(input.params[paramIndex++] ?? 'x'))
    .replace('*', encodeURIComponent(input.params[2] ?? 'x'));
  const search = new URLSearchParams(input.query).toString();
  const own = input.instance === 'sandbox' ? sandboxToken : ingestToken;
  const other = input.instance === 'sandbox' ? ingestToken : sandboxToken;
  const tokens = { global: pombo.apiKey, own, other, none: undefined, garbage: 'not-a-key-0123456789' };
  let key = tokens[input.key];
  if (defect === 'no-key') key = undefined;
  if (defect === 'bad-key') key = `wrong-${input.missingName}`.replace(/[^\x20-\x7e]/g, 'x');
  if (defect === 'wrong-token') key = instance === 'sandbox' ? ingestToken : sandboxToken;
  const headers: Record<string, string> = Object.fromEntries(input.headers);
  if (key !== undefined) headers.apikey = key;
  else delete headers.apikey;
  delete headers['x-instance-token']; // a valid key in another header must not undo the defect
  delete headers.authorization;
  if (!BODY_METHODS.has(route.method)) return { method: route.method, path: `${path}${search ? `?${search}` : ''}`, headers };
  let body: string;
  headers['content-type'] = 'application/json';
  if (defect === 'bad-json') body = input.rawBody;
  else if (defect === 'media-type') {
    body = JSON.stringify(input.body) ?? 'x';
    headers['content-type'] = input.contentType;
  } else if (defect === 'too-deep') body = `{"event":"CALL","data":${'{"a":['.repeat(input.depth)}1${']}'.repeat(input.depth)}}`;
  else if (defect === 'too-large') body = JSON.stringify({ blob: 'x'.repeat(BODY_LIMIT + 1) });
  else if (defect === 'unknown-field') {
    const object = input.body !== null && typeof input.body === 'object' && !Array.isArray(input.body) ? input.body : {};
    body = JSON.stringify({ ...object, [`unknownField${input.missingName.length}`]: true });
  } else body = JSON.stringify(input.body) ?? 'null';
  return { method: route.method, path: `${path}${search ? `?${search}` : ''}`, headers, body };
}

test(`${RUNS * REQUESTS_PER_RUN} generated bad requests across every route: no 5xx, nothing stored`, { timeout: 120_000 }, async () => {
  assert.ok(routes.length > 40, `routes were read from Fastify (${routes.length})`);
  const before = await state();
  const covered = new Set<string>();
  let sent = 0;
  const started = performance.now();
  /** What failed, short: fast-check's counterexamples hold the huge strings whole. */
  const failures: string[] = [];
  const run = await fc.check(
    fc.asyncProperty(fc.array(generated(), { minLength: REQUESTS_PER_RUN, maxLength: REQUESTS_PER_RUN }), async (cases) => {
      const answers = await Promise.all(
        cases.map(async (input) => {
          const request = build(input);
          covered.add(`${input.route.method} ${input.route.url}`);
          const response = await fetch(`${pombo.url}${request.path}`, {
            method: request.method,
            headers: request.headers,
            ...(request.body === undefined ? {} : { body: request.body }),
            signal: AbortSignal.timeout(10_000),
          });
          const text = await response.text();
          sent++;
          return { input, request, status: response.status, text };
        }),
      );
      for (const { input, request, status, text } of answers) {
        const shown = `${request.method} ${request.path.slice(0, 120)} (${input.defect}, key ${input.key}, body ${String(request.body).slice(0, 120)}) → ${status} ${text.slice(0, 300)}`;
        // No 5xx; and a request to anything but an open read-only page is refused.
        if (status >= 500 || (defectsFor(input.route).length && status < 400)) failures.push(shown);
      }
      if (failures.length) return false;
      if ((await state()) !== before) failures.push(`a refused request stored something: ${answers.map(({ request, status }) => `${request.method} ${request.path.slice(0, 80)} → ${status}`).join('; ')}`);
      return failures.length === 0;
    }),
    { numRuns: RUNS, endOnFailure: true },
  );
  assert.deepEqual(failures.slice(0, 10), [], `seed ${run.seed}`);
  assert.equal(run.failed, false, run.errorInstance ? String(run.errorInstance) : `seed ${run.seed}`);
  const seconds = (performance.now() - started) / 1000;
  assert.ok(sent >= 2000, `${sent} requests`);
  const missed = routes.filter((route) => !covered.has(`${route.method} ${route.url}`));
  assert.deepEqual(missed, [], 'every route got requests');
  assert.ok(seconds < 60, `the fuzz run took ${seconds.toFixed(1)} s`);
});

/** Routes whose success would take the fixtures away (the soft phase sends requests that may be valid). */
const DESTRUCTIVE = /^(DELETE \/instance\/|POST \/instance\/restart|PUT \/instance\/restart|DELETE \/webhook\/endpoints)/;

test('junk that passes the schemas reaches the handlers with valid keys: no 5xx, and a refused request stores nothing', { timeout: 120_000 }, async () => {
  const candidates = routes.filter((route) => BODY_METHODS.has(route.method) && !DESTRUCTIVE.test(`${route.method} ${route.url}`));
  const soft = fc.record({
    route: fc.constantFrom(...candidates),
    asGlobal: fc.boolean(),
    instance: fc.constantFrom('sandbox', 'ingest'),
    // Known fields only: a strict schema lets them through to the route's own checks.
    body: fc.oneof(fc.dictionary(fc.constantFrom(...FIELDS), junk, { maxKeys: 5 }), fc.record({ webhook: fc.dictionary(fc.constantFrom(...FIELDS), junk, { maxKeys: 5 }) }), fc.array(fc.dictionary(fc.constantFrom('event', 'data', 'id', 'sender', 'instance'), junk, { maxKeys: 4 }), { maxLength: 3 })),
    query,
  });
  const failures: string[] = [];
  let baseline = await state();
  let refused = 0;
  const run = await fc.check(
    fc.asyncProperty(soft, async ({ route, asGlobal, instance, body, query: search }) => {
      const name = instance === 'sandbox' ? sandboxName : ingestName;
      const key = asGlobal ? pombo.apiKey : instance === 'sandbox' ? sandboxToken : ingestToken;
      const path = route.url.replace(':instanceName', name).replace(/:(\w+)/g, 'x');
      const text = JSON.stringify(body) ?? 'null';
      const response = await fetch(`${pombo.url}${path}?${new URLSearchParams(search)}`, {
        method: route.method,
        headers: { apikey: key, 'content-type': 'application/json' },
        body: text,
        signal: AbortSignal.timeout(10_000),
      });
      const answer = await response.text();
      const shown = `${route.method} ${path} ${text.slice(0, 200)} → ${response.status} ${answer.slice(0, 300)}`;
      if (response.status >= 500) failures.push(shown);
      const now = await state();
      if (response.status >= 400 && now !== baseline) failures.push(`refused but stored: ${shown}`);
      if (response.status >= 400) refused++;
      baseline = now;
      return failures.length === 0;
    }),
    { numRuns: 600, endOnFailure: true },
  );
  assert.deepEqual(failures.slice(0, 10), [], `seed ${run.seed}`);
  assert.equal(run.failed, false, run.errorInstance ? String(run.errorInstance) : `seed ${run.seed}`);
  assert.ok(refused > 300, `${refused} of 600 were refused`);
});
