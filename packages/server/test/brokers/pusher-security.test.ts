import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { createPombo } from '../../src/pombo.ts';
import { assertError } from '../core/http-assert.ts';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';

/** An app whose host the tenant chooses. */
const app = (host: string, port: number) => ({ enabled: true, appId: '1', key: 'k', secret: 's', host, port, useTLS: false });

/** A Pusher-compatible receiver on 127.0.0.1 that counts the connections made to it and answers every trigger with `reply`. */
async function startPusherReceiver(t: TestContext, reply: (body: string) => { status: number; body: string } = () => ({ status: 200, body: '{}' })) {
  const seen = { connections: 0, paths: [] as string[] };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk));
    request.on('end', () => {
      seen.paths.push(request.url?.split('?')[0] ?? '');
      const { status, body: answer } = reply(body);
      response.writeHead(status, { 'content-type': 'application/json' }).end(answer);
    });
  });
  server.on('connection', () => seen.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, seen };
}

async function tenant(pombo: Harness, extra: Record<string, unknown> = {}): Promise<{ name: string; token: string }> {
  const name = uniqueName('pusher-ssrf');
  const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', ...extra });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { name, token: created.body.hash };
}

/** `find` once its events are given up (dead, not waiting for a retry), with the error that did it. */
const givenUp = (pombo: Harness, name: string, token: string) =>
  eventually(async () => {
    const body = (await pombo.api('GET', `/pusher/find/${name}`, undefined, token)).body;
    return body.state.lastError && body.state.backlog === 0 && body;
  }, 'the refusal in find, the event given up');

test('a per-instance Pusher host that is a non-public literal address, or Pombo itself, is refused with a 400 naming the field', async () => {
  const pombo = await startPombo({ PUSHER_ENABLED: 'true', SERVER_URL: 'https://pombo.example.com' });
  try {
    const { name, token } = await tenant(pombo);
    const refused: Array<[string, number, RegExp]> = [
      ['127.0.0.1', 18099, /pusher\.host is refused: 127\.0\.0\.1 is a loopback address; Pusher hosts set per instance reach public addresses only \(PUSHER_ALLOW_PRIVATE_NETWORKS=false\)/],
      ['169.254.169.254', 80, /pusher\.host is refused: 169\.254\.169\.254 is a link-local address \(cloud metadata/],
      ['10.1.2.3', 6001, /private address/],
      ['2130706433', 80, /127\.0\.0\.1 is a loopback address/],
      ['[::ffff:7f00:1]', 80, /loopback address inside an IPv6 address/],
      ['pombo.example.com', 443, /pombo\.example\.com is Pombo itself \(SERVER_URL\)/],
    ];
    for (const [host, port, message] of refused) {
      const config = { ...app(host, port), useTLS: port === 443 };
      assertError(await pombo.api('POST', `/pusher/set/${name}`, { pusher: config }, token), 400, 'POMBO_ERR_VALIDATION', message);
    }
    const create = { instanceName: uniqueName('pusher-ssrf-c'), integration: 'INGEST', pusher: app('169.254.169.254', 80) };
    assertError(await pombo.api('POST', '/instance/create', create), 400, 'POMBO_ERR_VALIDATION', /pusher\.host is refused: 169\.254\.169\.254 is a link-local address/);
    // The client builds `api-{cluster}.pusher.com`: a cluster cannot carry a host of its own.
    const cluster = { enabled: true, appId: '1', key: 'k', secret: 's', cluster: 'x@127.0.0.1:18099/' };
    assertError(await pombo.api('POST', `/pusher/set/${name}`, { pusher: cluster }, token), 400, 'POMBO_ERR_VALIDATION', /pusher\.cluster must be a cluster name/);
    assert.equal((await pombo.api('GET', `/pusher/find/${name}`, undefined, token)).body, null, 'nothing was stored');
  } finally {
    await pombo.close();
  }
});

test('a per-instance Pusher host name that resolves to loopback is refused at send time: nothing reaches it, the event is dead with the reason in find', async (t) => {
  const receiver = await startPusherReceiver(t);
  const pombo = await startPombo({ PUSHER_ENABLED: 'true', PUSHER_RETRY_MAX_DELAY_MS: '200' });
  try {
    const { name, token } = await tenant(pombo);
    assert.equal((await pombo.api('POST', `/pusher/set/${name}`, { pusher: app('localhost', receiver.port) }, token)).status, 201);
    assert.equal((await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { n: 1 } })).status, 201);
    const found = await givenUp(pombo, name, token);
    assert.match(found.state.lastError, /refused: localhost resolves to a loopback address; Pusher hosts set per instance reach public addresses only \(PUSHER_ALLOW_PRIVATE_NETWORKS=false\)/);
    assert.doesNotMatch(found.state.lastError, /127\.0\.0\.1|auth_signature/, 'the address a name leads to and the signed query are not shown');
    assert.equal(found.state.connection, 'disconnected', 'its app was not reached');
    assert.equal(receiver.seen.connections, 0, 'no connection was made to the receiver');
    const report = (await pombo.api('GET', `/pusher/find/${name}`, undefined, token)).body.state;
    assert.equal(report.delivered, 0);
  } finally {
    await pombo.close();
  }
});

test('with PUSHER_ALLOW_PRIVATE_NETWORKS=true a per-instance private host is reached; Pombo itself is still refused', async (t) => {
  const receiver = await startPusherReceiver(t);
  const pombo = await startPombo({ PUSHER_ENABLED: 'true', PUSHER_ALLOW_PRIVATE_NETWORKS: 'true' });
  try {
    const { name, token } = await tenant(pombo);
    assert.equal((await pombo.api('POST', `/pusher/set/${name}`, { pusher: app('localhost', receiver.port) }, token)).status, 201);
    await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { n: 1 } });
    await eventually(() => receiver.seen.paths.length >= 1, 'the trigger at the receiver');
    assert.deepEqual(receiver.seen.paths, ['/apps/1/batch_events']);
    const pomboPort = Number(new URL(pombo.url).port);
    assertError(await pombo.api('POST', `/pusher/set/${name}`, { pusher: app('127.0.0.1', pomboPort) }, token), 400, 'POMBO_ERR_VALIDATION', /127\.0\.0\.1 is Pombo itself/);
  } finally {
    await pombo.close();
  }
});

test('a literal private host stored while PUSHER_ALLOW_PRIVATE_NETWORKS was true is refused at send time once it is false', async (t) => {
  const receiver = await startPusherReceiver(t);
  const open = await startPombo({ PUSHER_ENABLED: 'true', PUSHER_ALLOW_PRIVATE_NETWORKS: 'true' });
  const { name, token } = await tenant(open, { pusher: { ...app('127.0.0.1', receiver.port), events: ['MESSAGES_UPSERT'] } });
  await open.close({ keepData: true });
  const closed = await startPombo({ PUSHER_ENABLED: 'true', AUTHENTICATION_API_KEY: open.apiKey }, open.dataDir);
  try {
    assert.equal((await closed.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { n: 1 } })).status, 201);
    const found = await givenUp(closed, name, token);
    assert.match(found.state.lastError, /refused: 127\.0\.0\.1 is a loopback address; Pusher hosts set per instance reach public addresses only \(PUSHER_ALLOW_PRIVATE_NETWORKS=false\)/);
    assert.equal(receiver.seen.connections, 0, 'no connection was made to the receiver');
  } finally {
    await closed.close();
    rmSync(open.dataDir, { recursive: true, force: true });
  }
});

test("the operator's global Pusher app may be on a private host whatever PUSHER_ALLOW_PRIVATE_NETWORKS says", async (t) => {
  const receiver = await startPusherReceiver(t);
  const pombo = await startPombo({
    PUSHER_ENABLED: 'true',
    PUSHER_GLOBAL_ENABLED: 'true',
    PUSHER_GLOBAL_APP_ID: '7',
    PUSHER_GLOBAL_KEY: 'k',
    PUSHER_GLOBAL_SECRET: 's',
    PUSHER_GLOBAL_HOST: 'localhost',
    PUSHER_GLOBAL_PORT: String(receiver.port),
  });
  try {
    const { name } = await tenant(pombo);
    await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { n: 1 } });
    await eventually(() => receiver.seen.paths.includes('/apps/7/batch_events'), 'the global trigger at the private receiver');
  } finally {
    await pombo.close();
  }
});

test('a failing answer is shown in find as a short excerpt with credentials masked, and never logged', async (t) => {
  const secret = `TOPSECRET-${randomBytes(6).toString('hex')}`;
  const text = `confidential-${randomBytes(6).toString('hex')}`;
  // The receiver echoes what it got (the message text) after a credential of its own.
  const receiver = await startPusherReceiver(t, (body) => ({ status: 500, body: `{"token":"${secret}","error":"boom","echo":${JSON.stringify(body)}}` }));
  const dir = mkdtempSync(join(tmpdir(), 'pombo-pusher-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let output = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      output += chunk;
      done();
    },
  });
  const apiKey = `global-${randomBytes(12).toString('hex')}`;
  const env = { AUTHENTICATION_API_KEY: apiKey, DATA_DIR: dir, LOG_LEVEL: 'debug', PUSHER_ENABLED: 'true', PUSHER_ALLOW_PRIVATE_NETWORKS: 'true', PUSHER_RETRY_MAX_DELAY_MS: '100' };
  const pombo = await createPombo(loadConfig(env, dir), createLogger('debug', sink));
  const url = (await pombo.listen(0)).replace('0.0.0.0', '127.0.0.1');
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, { method, headers: { apikey: apiKey, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as any };
  };
  try {
    const name = uniqueName('pusher-answer');
    assert.equal((await call('POST', '/instance/create', { instanceName: name, integration: 'INGEST', pusher: app('127.0.0.1', receiver.port) })).status, 201);
    assert.equal((await call('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { message: { conversation: text } } })).status, 201);
    const lastError: string = await eventually(async () => (await call('GET', `/pusher/find/${name}`)).body.state.lastError, 'the error in find');
    assert.match(lastError, /^Pusher answered 500: \{"token":"\[redacted\]","error":"boom"/);
    assert.ok(!lastError.includes(secret), 'the credential in the answer is masked');
    assert.ok(lastError.length < 300, 'an excerpt, not the whole answer');
    await eventually(() => output.includes('delivery failed; will retry'), 'the retry in the log');
  } finally {
    await pombo.close();
  }
  const retried = output.split('\n').filter(Boolean).map((line) => JSON.parse(line)).find((line) => line.msg === 'delivery failed; will retry');
  assert.equal(retried?.error, 'Pusher answered 500', 'the log says the status alone');
  assert.ok(!output.includes(secret), 'the credential in the answer is not logged');
  assert.ok(!output.includes(text), 'the message text the receiver echoed is not logged');
  assert.ok(!output.includes('boom'), "nothing of the receiver's answer is logged");
});

test("an instance's find shows its own Pusher requests only, never another tenant's error (the client is shared)", async (t) => {
  const failing = await startPusherReceiver(t, () => ({ status: 401, body: '{"error":"bad key for tenant-a.internal"}' }));
  const working = await startPusherReceiver(t);
  const pombo = await startPombo({ PUSHER_ENABLED: 'true', PUSHER_ALLOW_PRIVATE_NETWORKS: 'true' });
  try {
    const a = await tenant(pombo);
    const b = await tenant(pombo);
    assert.equal((await pombo.api('POST', `/pusher/set/${a.name}`, { pusher: app('127.0.0.1', failing.port) }, a.token)).status, 201);
    assert.equal((await pombo.api('POST', `/pusher/set/${b.name}`, { pusher: app('127.0.0.1', working.port) }, b.token)).status, 201);
    const before = (await pombo.api('GET', `/pusher/find/${b.name}`, undefined, b.token)).body.state;
    assert.deepEqual([before.connection, before.lastError], ['connecting', null], 'nothing sent yet');

    await pombo.api('POST', `/events/${b.name}`, { event: 'MESSAGES_UPSERT', data: { n: 1 } });
    await eventually(() => working.seen.paths.length >= 1, "b's trigger");
    await pombo.api('POST', `/events/${a.name}`, { event: 'MESSAGES_UPSERT', data: { n: 2 } });
    await eventually(async () => /Pusher answered 401/.test((await pombo.api('GET', `/pusher/find/${a.name}`, undefined, a.token)).body.state.lastError ?? ''), "a's failure in a's find");

    // The last request of the shared client was a's, failed: b's find still shows b's own.
    const shown = (await pombo.api('GET', `/pusher/find/${b.name}`, undefined, b.token)).body.state;
    assert.deepEqual([shown.connection, shown.lastError], ['connected', null], JSON.stringify(shown));
  } finally {
    await pombo.close();
  }
});
