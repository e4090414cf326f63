import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { assertError, logOf } from './http-assert.ts';

let pombo: Harness;
let a: { name: string; token: string };
let b: { name: string; token: string; number: string };

before(async () => {
  pombo = await startPombo();
  a = { name: uniqueName('auth-a'), token: '' };
  b = { name: uniqueName('auth-b'), token: '', number: '5511977776666' };
  a.token = (await pombo.sandbox(a.name)).token;
  b.token = (await pombo.sandbox(b.name, { number: b.number })).token;
});
after(async () => {
  await pombo.close();
});

interface Route {
  method: string;
  path: (name: string) => string;
  body?: unknown;
}

/** Every route that acts on one instance, with a body the global key would get a 2xx for. Delete comes last. */
function instanceRoutes(): Route[] {
  const channelRoutes = pombo.pombo.context.channels.all().flatMap((module): Route[] => [
    { method: 'GET', path: (name) => `/${module.name}/find/${name}` },
    { method: 'POST', path: (name) => `/${module.name}/set/${name}`, body: { [module.name]: { enabled: false } } },
  ]);
  return [
    { method: 'GET', path: (name) => `/instance/connect/${name}` },
    { method: 'GET', path: (name) => `/instance/connectionState/${name}` },
    { method: 'POST', path: (name) => `/message/sendText/${name}`, body: { number: '5511900000001', text: 'hello' } },
    { method: 'POST', path: (name) => `/chat/sendPresence/${name}`, body: { number: '5511900000001', presence: 'composing' } },
    { method: 'POST', path: (name) => `/instance/setPresence/${name}`, body: { presence: 'available' } },
    { method: 'POST', path: (name) => `/group/create/${name}`, body: { subject: 'g', participants: ['5511900000001'] } },
    { method: 'GET', path: (name) => `/events/${name}` },
    { method: 'POST', path: (name) => `/events/${name}`, body: { event: 'CALL', data: { id: 'c1' } } },
    ...channelRoutes,
    { method: 'DELETE', path: (name) => `/instance/logout/${name}` },
    { method: 'DELETE', path: (name) => `/instance/delete/${name}` },
  ];
}

test('no key, an unknown key, or instance A’s token on instance B: 401/401/403 on every instance route, and B is untouched', async () => {
  const before = await logOf(pombo, b.name);
  const routes = instanceRoutes();
  for (const route of routes) {
    const where = `${route.method} ${route.path(b.name)}`;
    const none = await pombo.api(route.method, route.path(b.name), route.body, null);
    assertError(none, 401, 'POMBO_ERR_UNAUTHORIZED', /apikey/);
    assertError(await pombo.api(route.method, route.path(b.name), route.body, 'not-a-key'), 401, 'POMBO_ERR_UNAUTHORIZED');
    assertError(await pombo.api(route.method, route.path(b.name), route.body, `${b.token}x`), 401, 'POMBO_ERR_UNAUTHORIZED');
    const crossed = await pombo.api(route.method, route.path(b.name), route.body, a.token);
    assertError(crossed, 403, 'POMBO_ERR_FORBIDDEN', new RegExp(`"${b.name}"`));
    assert.ok(!JSON.stringify(crossed.body).includes(b.token), `${where} leaks nothing of B`);
  }
  assert.deepEqual(await logOf(pombo, b.name), before, 'none of the refused requests left a trace in B’s log');
  assert.equal((await pombo.api('GET', `/instance/connectionState/${b.name}`)).body.instance.state, 'open');
});

test('an instance token cannot tell which other names exist: a name that does not exist is a 403 as well; the global key gets 404', async () => {
  const ghost = uniqueName('ghost');
  for (const route of instanceRoutes()) {
    const probe = await pombo.api(route.method, route.path(ghost), route.body, a.token);
    assertError(probe, 403, 'POMBO_ERR_FORBIDDEN', new RegExp(`"${ghost}"`));
    assertError(await pombo.api(route.method, route.path(ghost), route.body), 404, 'POMBO_ERR_INSTANCE_NOT_FOUND');
  }
});

test('an instance token acts on its own instance', async () => {
  const own = await pombo.api('POST', `/message/sendText/${a.name}`, { number: b.number, text: 'hi' }, a.token);
  assert.equal(own.status, 201);
  assert.equal((await pombo.api('GET', `/events/${a.name}`, undefined, a.token)).status, 200);
  assert.equal((await pombo.api('POST', `/events/${a.name}`, { event: 'CALL', data: {} }, a.token)).status, 201);
});

test('an instance route digests the key once per request: the handler reuses what the guard identified', async () => {
  const auth = pombo.pombo.context.auth;
  const identify = auth.identify.bind(auth);
  let calls = 0;
  auth.identify = (key) => {
    calls++;
    return identify(key);
  };
  try {
    assert.equal((await pombo.api('GET', `/events/${a.name}`, undefined, a.token)).status, 200);
    assert.equal(calls, 1, 'one request, one identification');
    assert.equal((await pombo.api('GET', `/events/${b.name}`, undefined, a.token)).status, 403, "A's token still refused on B");
    assert.equal(calls, 2);
  } finally {
    delete (auth as Partial<typeof auth>).identify;
  }
});

test('server-wide routes need the global key', async () => {
  assertError(await pombo.api('POST', '/instance/create', { instanceName: uniqueName('x') }, a.token), 403, 'POMBO_ERR_FORBIDDEN');
  assertError(await pombo.api('GET', '/metrics', undefined, a.token), 403, 'POMBO_ERR_FORBIDDEN');
  assertError(await pombo.api('GET', '/metrics', undefined, null), 401, 'POMBO_ERR_UNAUTHORIZED');
  assertError(await pombo.api('GET', '/instance/fetchInstances', undefined, null), 401, 'POMBO_ERR_UNAUTHORIZED');
});

test('the global key acts on every instance route', async () => {
  const victim = uniqueName('global');
  await pombo.sandbox(victim);
  for (const route of instanceRoutes()) {
    const response = await pombo.api(route.method, route.path(victim), route.body);
    assert.ok(response.status >= 200 && response.status < 300, `${route.method} ${route.path(victim)}: ${response.status} ${JSON.stringify(response.body)}`);
  }
  assertError(await pombo.api('GET', `/instance/connectionState/${victim}`), 404, 'POMBO_ERR_INSTANCE_NOT_FOUND');
});

test('the apikey header is read in any case', async () => {
  const response = await fetch(`${pombo.url}/instance/connectionState/${a.name}`, { headers: { APIKEY: a.token } });
  assert.equal(response.status, 200);
});

test('Authorization: Bearer carries a key on every route as the apikey header does: instance routes, create and fetchInstances', async () => {
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  assert.equal((await fetch(`${pombo.url}/instance/connectionState/${a.name}`, { headers: bearer(a.token) })).status, 200);
  assert.equal((await fetch(`${pombo.url}/instance/connectionState/${b.name}`, { headers: bearer(a.token) })).status, 403);
  const listed = await fetch(`${pombo.url}/instance/fetchInstances`, { headers: bearer(a.token) });
  assert.equal(listed.status, 200);
  assert.deepEqual(((await listed.json()) as Array<{ name: string }>).map((instance) => instance.name), [a.name], 'a token lists only its own instance');
  const name = uniqueName('bearer');
  const created = await fetch(`${pombo.url}/instance/create`, {
    method: 'POST',
    headers: { ...bearer(pombo.apiKey), 'content-type': 'application/json' },
    body: JSON.stringify({ instanceName: name, integration: 'INGEST' }),
  });
  assert.equal(created.status, 201, await created.text());
  for (const authorization of [a.token, `Basic ${a.token}`, `Bearer ${a.token} extra`]) {
    const response = await fetch(`${pombo.url}/instance/connectionState/${a.name}`, { headers: { authorization } });
    assert.equal(response.status, 401, `Authorization: ${authorization.replace(a.token, '<token>')} is not a bearer key`);
  }
  const refused = await fetch(`${pombo.url}/instance/connectionState/${a.name}`, { headers: bearer('not-a-key') });
  assert.equal(refused.status, 401);
  assert.match(await refused.text(), /Authorization: Bearer/);
});
