import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { isApiRoute, routesOf } from '../../src/http/openapi.ts';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { connect as realtimeConnect, realtimeUrl, type RealtimeClient } from '../realtime/ws-client.ts';
import { startReceiver, type Receiver } from '../webhook/http-receiver.ts';
import { logOf } from './http-assert.ts';

/**
 * Instance A's token against everything of instance B, on every route the server registered (read from
 * Fastify's onRoute hook, so a route added later is covered without touching this file), on Socket.IO
 * and on /events/ws; and A's streams never carry one of B's events.
 */
let pombo: Harness;
/** A's webhook: B's events must never reach it, whatever A asks (a replay of B's ids included). */
let receiver: Receiver;
const a = { name: uniqueName('tenant-a'), token: '', id: '' };
const b = { name: uniqueName('tenant-b'), token: '', id: '', events: [] as string[], secret: uniqueName('only-in-b') };

/**
 * Every piece of B a response to A must not show: its token and its events' contents always; its id
 * and event ids in an answer that is not a refusal (a refusal may repeat the id A sent).
 */
function assertNothingOfB(response: { status: number; body: unknown }, where: string): void {
  const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body ?? '');
  assert.ok(!text.includes(b.token), `${where} shows B's token`);
  assert.ok(!text.includes(b.secret), `${where} shows B's event data`);
  if (response.status >= 400) return;
  assert.ok(!text.includes(b.id), `${where} answers ${response.status} with B's id`);
  for (const id of b.events) assert.ok(!text.includes(id), `${where} answers ${response.status} with B's event ${id}`);
}

/** A route's path with its parameters filled: the instance with `instance`, other ids with B's. */
function fill(url: string, instance: string): string {
  return url
    .replace(':instanceName', encodeURIComponent(instance))
    .replace(/:eventId\b/, b.events[0] ?? 'evt_x')
    .replace(/:[A-Za-z]+/g, 'x')
    .replace(/\*$/, 'x');
}

const queryOfB = () => `?instanceName=${b.name}&instanceId=${b.id}&instance_id=${b.id}&after=${b.events[0]}&ids=${b.events[0]}`;

before(async () => {
  receiver = await startReceiver();
  pombo = await startPombo({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
  ({ token: a.token, id: a.id } = await pombo.sandbox(a.name, { integration: 'INGEST', websocket: { enabled: true, events: [] } }));
  ({ token: b.token, id: b.id } = await pombo.sandbox(b.name, { integration: 'INGEST', websocket: { enabled: true, events: [] } }));
  const appended = await pombo.api('POST', `/events/${b.name}`, { events: [{ event: 'MESSAGES_UPSERT', data: { secret: b.secret } }] });
  b.events.push(...appended.body.events.map((event: { id: string }) => event.id));
  const webhook = await pombo.api('POST', `/webhook/set/${a.name}`, { webhook: { enabled: true, url: `${receiver.url}/a`, events: ['MESSAGES_UPSERT'] } }, a.token);
  assert.equal(webhook.status, 201, JSON.stringify(webhook.body));
});
after(async () => {
  await pombo.close();
  await receiver.close();
});

test('every route naming instance B refuses instance A’s token (403) and shows nothing of B; B is unchanged', async (t) => {
  const routes = routesOf(pombo.pombo.http).filter((route) => route.method !== 'HEAD' && route.method !== 'OPTIONS');
  const named = routes.filter((route) => route.url.includes(':instanceName'));
  assert.ok(named.length >= 20, `the routes were read from the server (${named.length} name an instance)`);
  const before = { log: await logOf(pombo, b.name), found: await pombo.api('GET', `/instance/fetchInstances?instanceName=${b.name}`) };
  // Deletions last: B must still be there for the routes after them.
  const ordered = [...named].sort((x, y) => Number(x.method === 'DELETE') - Number(y.method === 'DELETE'));
  for (const route of ordered) {
    for (const instance of [b.name, b.id]) {
      const path = fill(route.url, instance) + queryOfB();
      const where = `${route.method} ${path}`;
      const response = await pombo.api(route.method, path, route.method === 'GET' || route.method === 'DELETE' ? undefined : {}, a.token);
      // B's name is B, B's id names no instance (routes take names): 403 both, so that A's token cannot
      // tell a name that exists from one that does not, and never B.
      assert.equal(response.status, 403, `${where}: ${JSON.stringify(response.body)}`);
      assert.equal((response.body as { code?: string }).code, 'POMBO_ERR_FORBIDDEN', where);
      assertNothingOfB(response, where);
    }
  }
  t.diagnostic(`${named.length} routes that name an instance, each with B's name and B's id`);
  assert.deepEqual(await logOf(pombo, b.name), before.log, 'no refused request left a trace in B’s log');
  assert.deepEqual(await pombo.api('GET', `/instance/fetchInstances?instanceName=${b.name}`), before.found, 'B and its settings are unchanged');
});

test('routes that name no instance, and A’s own routes asked about B’s ids, show A nothing of B', async (t) => {
  const routes = routesOf(pombo.pombo.http).filter((route) => route.method !== 'HEAD' && route.method !== 'OPTIONS');
  const global = routes.filter((route) => !route.url.includes(':instanceName'));
  for (const route of global) {
    const path = fill(route.url, a.name) + queryOfB();
    const response = await pombo.api(route.method, path, route.method === 'GET' || route.method === 'DELETE' ? undefined : {}, a.token);
    assertNothingOfB(response, `${route.method} ${path}`);
    if (isApiRoute(route) && response.status < 400 && route.method !== 'GET') assert.fail(`${route.method} ${path} let A's token change something: ${response.status}`);
  }
  // A's own routes, with B's event ids in the path and the query: never B's events.
  const own = routes.filter((route) => route.url.includes(':instanceName') && route.method === 'GET');
  for (const route of own) {
    const path = fill(route.url, a.name) + queryOfB();
    assertNothingOfB(await pombo.api('GET', path, undefined, a.token), `GET ${path}`);
  }
  // A replay of B's ids on A's webhook: answered as for ids that do not exist, nothing replayed.
  const replay = await pombo.api('POST', `/webhook/replay/${a.name}`, { ids: b.events }, a.token);
  assert.equal(replay.body.selected, 0, JSON.stringify(replay.body));
  assert.deepEqual(replay.body.notFound, b.events);
  assertNothingOfB({ status: 400, body: replay.body }, 'a replay of B’s events on A’s webhook');
  // A's webhook gets A's event (sent after everything above), and nothing of B.
  const mine = await pombo.api('POST', `/events/${a.name}`, { events: [{ event: 'MESSAGES_UPSERT', data: { n: 0 } }] });
  await eventually(() => receiver.deliveredIds().includes(mine.body.events[0].id), 'A’s event on A’s webhook');
  for (const request of receiver.requests) assertNothingOfB({ status: 200, body: request.body.toString() }, `a request to A's webhook`);
  t.diagnostic(`${global.length} routes that name no instance, ${own.length} of A's own read routes with B's ids`);
});

test('Socket.IO: A’s token does not join B’s namespace, cannot resume from B’s events, and neither its namespace nor its socket on "/" carries one of B’s', async () => {
  const sockets: Socket[] = [];
  const open = (namespace: string, auth: Record<string, unknown> = {}) => {
    const socket = io(`${pombo.url}${namespace}`, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { apikey: a.token, ...auth } });
    sockets.push(socket);
    return socket;
  };
  const outcome = (socket: Socket) =>
    new Promise<string>((resolve) => {
      socket.once('connect', () => resolve('connected'));
      socket.once('connect_error', (error: Error & { data?: { code?: string } }) => resolve(error.data?.code ?? error.message));
    });
  try {
    assert.equal(await outcome(open(`/${b.name}`)), 'POMBO_ERR_FORBIDDEN');
    assert.equal(await outcome(open(`/${b.id}`)), 'POMBO_ERR_FORBIDDEN');
    for (const namespace of [`/${a.name}`, '/']) assert.equal(await outcome(open(namespace, { lastEventId: b.events[0] })), 'POMBO_ERR_VALIDATION', namespace);
    // A's token on "/" (Evolution API's global client code) is admitted there, for A's events only.
    const owns = [open(`/${a.name}`), open('/')];
    const seen = owns.map((own) => {
      const ids: string[] = [];
      own.onAny((_name: string, payload: { id?: string }) => ids.push(payload?.id ?? ''));
      return ids;
    });
    for (const own of owns) {
      assert.equal(await outcome(own), 'connected');
      // Clients cannot pick rooms: an emit asking for B's room is ignored.
      own.emit('join', `live:${b.id}`);
      own.emit('subscribe', b.name);
    }
    const fromB = await pombo.api('POST', `/events/${b.name}`, { events: [{ event: 'MESSAGES_UPSERT', data: { n: 1 } }] });
    const fromA = await pombo.api('POST', `/events/${a.name}`, { events: [{ event: 'MESSAGES_UPSERT', data: { n: 2 } }] });
    for (const ids of seen) {
      await eventually(() => ids.includes(fromA.body.events[0].id), 'A’s own event');
      assert.ok(!ids.includes(fromB.body.events[0].id), 'none of B’s events on A’s namespace or A’s socket on "/"');
    }
  } finally {
    for (const socket of sockets) socket.close();
  }
});

test('/events/ws: A’s token is refused for B by name and by id (403, or 4403 for browsers), and its own stream carries none of B’s events', async () => {
  const headers = { 'x-instance-token': a.token };
  for (const instance of [b.name, b.id]) {
    await assert.rejects(realtimeConnect(pombo.url, { query: { instance_id: instance }, headers }), (error: Error & { status?: number; body?: string }) => {
      assert.equal(error.status, 403, error.message);
      assert.ok(!error.body?.includes(b.token));
      return true;
    });
    // A browser (Origin) is upgraded and closed with 4000 + the status.
    const browser = new WebSocket(realtimeUrl(pombo.url, { instance_id: instance, instance_token: a.token }), { origin: 'http://example.com' });
    const code = await new Promise<number>((resolve) => browser.once('close', (closeCode) => resolve(closeCode)));
    assert.equal(code, 4403);
  }
  const clients: RealtimeClient[] = [];
  try {
    // A's subscriber, also one that names B's event as its resume point (ignored: not an event of A).
    clients.push(await realtimeConnect(pombo.url, { query: { instance_id: a.name }, headers, autoAck: true }));
    clients.push(await realtimeConnect(pombo.url, { query: { instance_id: a.name, subscriber: 'resume', last_event_id: b.events[0]! }, headers, autoAck: true }));
    await eventually(async () => (await pombo.api('GET', `/realtime/find/${a.name}`)).body.subscribers.length === 2, 'A’s subscribers attached');
    const fromB = await pombo.api('POST', `/events/${b.name}`, { events: [{ event: 'MESSAGES_UPSERT', data: { n: 3 } }] });
    const fromA = await pombo.api('POST', `/events/${a.name}`, { events: [{ event: 'MESSAGES_UPSERT', data: { n: 4 } }] });
    for (const client of clients) {
      await eventually(() => client.frames.some((frame) => frame.id === fromA.body.events[0].id), 'A’s own event');
      const ids = client.frames.map((frame) => frame.id);
      for (const id of [...b.events, fromB.body.events[0].id]) assert.ok(!ids.includes(id), `B's event ${id} on A's stream`);
      assert.ok(client.frames.every((frame) => frame.instance_id === a.id), 'only A’s events');
    }
  } finally {
    for (const client of clients) await client.close();
  }
});
