import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, ConfigError } from '../../src/config/index.ts';
import { readCors } from '../../src/config/cors.ts';
import { EnvReader } from '../../src/config/env-reader.ts';
import { withPombo, type Harness } from '../helpers/pombo-harness.ts';

/** What a browser sends before a cross-origin call with the `apikey` header: a preflight. */
async function preflight(pombo: Harness, origin: string, method = 'GET', path = '/instance/fetchInstances'): Promise<Response> {
  return fetch(`${pombo.url}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'apikey,content-type' },
  });
}

test('by default any origin may call the API (as Evolution API): the preflight allows the apikey header and every method the API uses', async () => {
  await withPombo({}, async (pombo) => {
    const answer = await preflight(pombo, 'https://dashboard.example.com', 'PATCH', '/webhook/endpoints/someone/ep_1');
    assert.equal(answer.status, 204);
    assert.equal(answer.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(answer.headers.get('access-control-allow-methods')?.split(/, */), ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
    assert.match(answer.headers.get('access-control-allow-headers') ?? '', /apikey/);
    assert.equal(answer.headers.get('access-control-allow-credentials'), null);
    const call = await fetch(`${pombo.url}/instance/fetchInstances`, { headers: { origin: 'https://dashboard.example.com', apikey: pombo.apiKey } });
    assert.equal(call.status, 200);
    assert.equal(call.headers.get('access-control-allow-origin'), '*');
    const refused = await fetch(`${pombo.url}/instance/fetchInstances`, { headers: { origin: 'https://dashboard.example.com' } });
    assert.equal(refused.status, 401, 'CORS opens nothing: the key is still required');
  });
});

test('CORS_ORIGIN lists the origins allowed; others get no CORS header (the browser blocks them), and Socket.IO follows it', async () => {
  await withPombo({ CORS_ORIGIN: 'https://app.example.com, http://localhost:3000', CORS_METHODS: 'GET,POST' }, async (pombo) => {
    const allowed = await preflight(pombo, 'http://localhost:3000', 'POST');
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    assert.equal(allowed.headers.get('access-control-allow-methods'), 'GET, POST');
    assert.match(allowed.headers.get('vary') ?? '', /Origin/i);
    const other = await preflight(pombo, 'https://evil.example.com', 'POST');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const poll = (origin: string) => fetch(`${pombo.url}/socket.io/?EIO=4&transport=polling&apikey=${pombo.apiKey}`, { headers: { origin } });
    assert.equal((await poll('https://app.example.com')).headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal((await poll('https://evil.example.com')).headers.get('access-control-allow-origin'), null);
  });
});

test('CORS_CREDENTIALS=true with any origin echoes the page origin (browsers refuse * with credentials)', async () => {
  await withPombo({ CORS_CREDENTIALS: 'true' }, async (pombo) => {
    const answer = await preflight(pombo, 'https://app.example.com');
    assert.equal(answer.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(answer.headers.get('access-control-allow-credentials'), 'true');
  });
});

test('a CORS_ORIGIN entry that is not an origin, or an unknown method, stops the start with a message naming it', () => {
  assert.throws(
    () => loadConfig({ AUTHENTICATION_API_KEY: 'k', CORS_ORIGIN: 'https://app.example.com/', CORS_METHODS: 'GET,FETCH' }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /CORS_ORIGIN has "https:\/\/app.example.com\/", which is not an origin/.test(error.message) &&
      /CORS_METHODS has "FETCH"/.test(error.message),
  );
});

test("CORS_ORIGIN takes bare host names as Evolution's .env suggests (`yourdomain1.com, yourdomain2.com`): a page from that host over https or http", async () => {
  const env = new EnvReader({ CORS_ORIGIN: 'yourdomain1.com, App.Example.com:8443,https://exact.example.com' });
  assert.deepEqual(readCors(env).origins, [
    'https://yourdomain1.com',
    'http://yourdomain1.com',
    'https://app.example.com:8443',
    'http://app.example.com:8443',
    'https://exact.example.com',
  ]);
  assert.deepEqual(env.problems, []);
  await withPombo({ CORS_ORIGIN: 'yourdomain1.com, localhost:3000' }, async (pombo) => {
    for (const origin of ['https://yourdomain1.com', 'http://localhost:3000']) {
      assert.equal((await preflight(pombo, origin)).headers.get('access-control-allow-origin'), origin);
    }
    for (const origin of ['https://www.yourdomain1.com', 'http://localhost:3001']) {
      assert.equal((await preflight(pombo, origin)).headers.get('access-control-allow-origin'), null, `${origin} is another host`);
    }
  });
  for (const entry of ['yourdomain1.com/app', 'user@yourdomain1.com', 'ftp://yourdomain1.com']) {
    assert.throws(
      () => loadConfig({ AUTHENTICATION_API_KEY: 'k', CORS_ORIGIN: entry }),
      (error: unknown) => error instanceof ConfigError && error.message.includes(`CORS_ORIGIN has "${entry}", which is not an origin`),
      entry,
    );
  }
});
