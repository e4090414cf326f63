import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';
import { connect as connectRealtime } from '../realtime/ws-client.ts';
import { Clients, namespaceUrl } from '../socketio/socket-helpers.ts';
import type { DeliveryRecord } from '../../src/store/types.ts';
import { managerCookie } from '../helpers/manager-session.ts';

let pombo: Harness;
let cookie: string;
const form = 'application/x-www-form-urlencoded';

before(async () => {
  pombo = await startPombo();
  cookie = await managerCookie(pombo);
});
after(() => pombo.close());

test('without a session: the page leads to the login form, fragments and the stream answer 401 with HX-Redirect', async () => {
  const page = await fetch(`${pombo.url}/manager`, { redirect: 'manual' });
  assert.deepEqual([page.status, page.headers.get('location')], [303, '/manager/login']);
  const slash = await fetch(`${pombo.url}/manager/`, { redirect: 'manual' });
  assert.deepEqual([slash.status, slash.headers.get('location')], [303, '/manager']);
  for (const path of ['/manager/fragments/instances', '/manager/fragments/dead-letters', '/manager/events/stream']) {
    const response = await fetch(`${pombo.url}${path}`, { headers: { 'hx-request': 'true', cookie: 'pombo_manager=forged' } });
    assert.deepEqual([response.status, response.headers.get('hx-redirect')], [401, '/manager/login'], path);
  }
  const login = await fetch(`${pombo.url}/manager/login`);
  assert.equal(login.status, 200);
  assert.match(await login.text(), /<input id="key" name="key" type="password"/);
});

test('an instance token is not the global key: no session', async () => {
  const { token } = await pombo.sandbox(`mgr-${Date.now()}`);
  const login = await fetch(`${pombo.url}/manager/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { origin: pombo.url, 'content-type': form },
    body: new URLSearchParams({ key: token }).toString(),
  });
  assert.equal(login.status, 401);
  assert.equal(login.headers.get('set-cookie'), null);
});

test('a login or a replay whose fields are not text (a JSON body) is refused like a wrong key, not an internal error', async () => {
  const json = { origin: pombo.url, 'content-type': 'application/json' };
  for (const key of [{ a: 1 }, [pombo.apiKey], 12345, null]) {
    const login = await fetch(`${pombo.url}/manager/login`, { method: 'POST', redirect: 'manual', headers: json, body: JSON.stringify({ key }) });
    assert.equal(login.status, 401, JSON.stringify(key));
    assert.match(await login.text(), /This is not the global API key/);
  }
  const replay = await fetch(`${pombo.url}/manager/dead-letters/replay`, {
    method: 'POST',
    headers: { ...json, cookie },
    body: JSON.stringify({ destination: 'webhook:global', eventId: { a: 1 } }),
  });
  assert.equal(replay.status, 200);
  assert.match(await replay.text(), /There is no destination &quot;webhook:global&quot;|There is no destination "webhook:global"/);
});

test('POSTs from another origin, or with neither Origin nor Referer, are refused (403) even with a session', async () => {
  const body = new URLSearchParams({ destination: 'webhook:global' }).toString();
  const foreign = await fetch(`${pombo.url}/manager/dead-letters/replay`, { method: 'POST', headers: { cookie, origin: 'http://evil.example', 'content-type': form }, body });
  assert.equal(foreign.status, 403);
  const bare = await fetch(`${pombo.url}/manager/logout`, { method: 'POST', headers: { cookie, 'content-type': form }, body });
  assert.equal(bare.status, 403);
  const foreignLogin = await fetch(`${pombo.url}/manager/login`, { method: 'POST', headers: { referer: 'http://evil.example/x', 'content-type': form }, body: `key=${pombo.apiKey}` });
  assert.equal(foreignLogin.status, 403);
  const same = await fetch(`${pombo.url}/manager/dead-letters/replay`, { method: 'POST', headers: { cookie, origin: pombo.url, 'content-type': form }, body });
  assert.equal(same.status, 200);
  assert.match(await same.text(), /There is no destination &quot;webhook:global&quot; \(any more\)\./);
});

test('pages forbid inline scripts, framing and cross-origin reads; the vendored htmx files are served with script content types', async () => {
  const page = await fetch(`${pombo.url}/manager`, { headers: { cookie, origin: 'http://localhost:3000' } });
  assert.equal(page.headers.get('access-control-allow-origin'), null, "the API's CORS does not cover the manager");
  const api = await fetch(`${pombo.url}/`, { headers: { origin: 'http://localhost:3000' } });
  assert.notEqual(api.headers.get('access-control-allow-origin'), null, 'while it covers the API (the check above can fail)');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self';.*frame-ancestors 'none'/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  const text = await page.text();
  for (const src of text.matchAll(/<script src="([^"]+)"/g)) {
    const asset = await fetch(`${pombo.url}${src[1]}`);
    assert.equal(asset.status, 200, src[1]);
    assert.equal(asset.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.ok((await asset.text()).length > 100);
  }
  assert.doesNotMatch(text.replace(/<script src="[^"]+" defer><\/script>/g, ''), /<script/, 'no inline script');
  const css = await fetch(`${pombo.url}/manager/assets/manager.css`);
  assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
  assert.equal((await fetch(`${pombo.url}/manager/assets/nope.js`)).status, 404);
});

test('logging out ends the session and clears the cookie', async () => {
  const login = await fetch(`${pombo.url}/manager/login`, { method: 'POST', redirect: 'manual', headers: { origin: pombo.url, 'content-type': form }, body: `key=${encodeURIComponent(pombo.apiKey)}` });
  const own = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  assert.equal((await fetch(`${pombo.url}/manager/fragments/clients`, { headers: { cookie: own } })).status, 200);
  const logout = await fetch(`${pombo.url}/manager/logout`, { method: 'POST', redirect: 'manual', headers: { cookie: own, origin: pombo.url } });
  assert.deepEqual([logout.status, logout.headers.get('location')], [303, '/manager/login']);
  assert.match(logout.headers.get('set-cookie') ?? '', /^pombo_manager=; Path=\/manager; Max-Age=0; HttpOnly; SameSite=Strict/);
  assert.equal((await fetch(`${pombo.url}/manager/fragments/clients`, { headers: { cookie: own } })).status, 401);
  assert.equal((await fetch(`${pombo.url}/manager/fragments/clients`, { headers: { cookie } })).status, 200, 'other sessions stay');
});

test('connected clients lists Socket.IO sockets and /events/ws subscribers by instance name', async (t) => {
  const name = `mgr-clients-${Date.now()}`;
  await pombo.sandbox(name);
  const clients = new Clients();
  const socket = await clients.connect(namespaceUrl(pombo, name), { auth: { apikey: pombo.apiKey } });
  const realtime = await connectRealtime(pombo.url, { query: { instance_id: name, subscriber: 'billing' }, headers: { apikey: pombo.apiKey } });
  t.after(async () => {
    clients.closeAll();
    await realtime.close();
  });
  const fragment = await eventually(async () => {
    const text = await (await fetch(`${pombo.url}/manager/fragments/clients`, { headers: { cookie } })).text();
    return text.includes('billing') && text.includes(socket.id ?? '-') ? text : undefined;
  }, 'both clients in the fragment');
  assert.match(fragment, new RegExp(`<td>socket\\.io</td>\\s*<td>${name}</td>\\s*<td><code>${socket.id}</code></td>`));
  assert.match(fragment, new RegExp(`<td>realtime</td>\\s*<td>${name}</td>\\s*<td><code>billing</code></td>\\s*<td>(::ffff:)?127\\.0\\.0\\.1</td>`));
});

test("the dead letters of every webhook and realtime subscriber are read with one query, the subscribers' names with one more", async () => {
  const { store } = pombo.pombo.context;
  const deadLetter = (destination: string, instanceId: string): DeliveryRecord => ({
    destination,
    pos: 1_000_000,
    eventId: `evt_${randomBytes(6).toString('hex')}`,
    instanceId,
    event: 'MESSAGES_UPSERT',
    status: 'failed',
    attempts: [{ at: new Date().toISOString(), durationMs: 3, statusCode: 410 }],
    nextAttemptAt: null,
  });
  const written: DeliveryRecord[] = [];
  for (let n = 0; n < 3; n++) {
    const name = `mgr-dead-${n}-${Date.now()}`;
    const { id } = await pombo.sandbox(name);
    assert.equal((await pombo.api('POST', `/webhook/set/${name}`, { webhook: { enabled: true, url: 'http://127.0.0.1:9/hook', events: ['MESSAGES_UPSERT'] } })).status, 201);
    // Written as a failed delivery would be; the subscriber's cursor makes it known, as a first connection does.
    for (const destination of [`webhook:${id}`, `realtime:${id}:billing`]) {
      const record = deadLetter(destination, id);
      await store.saveDeliveries(destination, [record], 0);
      written.push(record);
    }
  }
  await eventually(() => written.every(({ destination }) => !destination.startsWith('webhook:') || pombo.pombo.context.dispatcher.specs().some((spec) => spec.id === destination)), 'the webhooks run');

  const calls = { failedDeliveries: 0, listDeliveries: 0, listChildren: 0 };
  const { failedDeliveries, listDeliveries, listChildren } = store;
  store.failedDeliveries = (...args) => (calls.failedDeliveries++, failedDeliveries.apply(store, args));
  store.listDeliveries = (query) => (calls.listDeliveries += query.status === 'failed' ? 1 : 0, listDeliveries.call(store, query));
  store.listChildren = (destination) => (calls.listChildren++, listChildren.call(store, destination));
  let text: string;
  try {
    text = await (await fetch(`${pombo.url}/manager/fragments/dead-letters`, { headers: { cookie } })).text();
  } finally {
    Object.assign(store, { failedDeliveries, listDeliveries, listChildren });
  }
  for (const { eventId, destination } of written) assert.match(text, new RegExp(`data-dead-letter="${eventId}"`), destination);
  assert.deepEqual(calls, { failedDeliveries: 1, listDeliveries: 0, listChildren: 1 });
});

test('MANAGER_ENABLED=false serves no manager', async () => {
  const bare = await startPombo({ MANAGER_ENABLED: 'false' });
  try {
    for (const path of ['/manager', '/manager/login', '/manager/assets/manager.css']) {
      assert.equal((await fetch(`${bare.url}${path}`, { redirect: 'manual' })).status, 404, path);
    }
  } finally {
    await bare.close();
  }
});
