import { after, before, test } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { assertError } from '../core/http-assert.ts';
import { startReceiver, type Receiver } from '../webhook/http-receiver.ts';
import type { Agent } from 'undici';
import { AddressRefused, OutboundAddressPolicy } from '../../src/net/outbound-address-policy.ts';
import { nonPublicReason } from '../../src/net/non-public-address.ts';
import { WEBHOOK_ADDRESSES } from '../../src/channels/webhook/webhook-config.ts';
import { policyAgent } from '../../src/net/undici-policy-agent.ts';

/** A server as tenants would see it: private networks not allowed (the default). */
let pombo: Harness;
let receiver: Receiver;
before(async () => {
  pombo = await startPombo({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false', SERVER_URL: 'https://pombo.example.com' });
  receiver = await startReceiver(() => ({ status: 200, body: 'internal secret page' }));
});
after(async () => {
  await receiver.close();
  await pombo.close();
});

async function tenant(): Promise<{ name: string; token: string }> {
  const name = uniqueName('ssrf');
  const token = (await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).body.hash;
  return { name, token };
}

const port = (url: string) => new URL(url).port;

test('/webhook/set refuses at once a URL whose literal address is not public, or that is Pombo itself', async () => {
  const { name, token } = await tenant();
  const pomboPort = port(pombo.url);
  const refused: Array<[string, RegExp]> = [
    [`${receiver.url}/hook`, /127\.0\.0\.1 is a loopback address; webhooks reach public addresses only \(WEBHOOK_ALLOW_PRIVATE_NETWORKS=false\)/],
    ['http://169.254.169.254/latest/meta-data/', /link-local address \(cloud metadata/],
    ['http://10.0.0.5:8080/', /private address/],
    ['http://192.168.1.1/', /private address/],
    ['http://100.64.0.1/', /carrier-grade NAT/],
    ['http://0.0.0.0:8080/', /unspecified/],
    ['http://[::1]:8080/', /loopback/],
    ['http://[::ffff:127.0.0.1]/', /loopback address inside an IPv6 address/],
    // Linux connects ::ffff:0.0.0.0 to this machine: a loopback-only service, or Pombo itself.
    ['http://[::ffff:0.0.0.0]:8080/', /unspecified address inside an IPv6 address \(0\.0\.0\.0\)/],
    [`http://[::ffff:0.0.0.0]:${pomboPort}/`, /is Pombo itself/],
    ['http://[::ffff:a9fe:a9fe]/', /link-local address .* inside an IPv6 address \(169\.254\.169\.254\)/],
    ['http://[fd00:ec2::254]/', /unique local/],
    ['http://[fe80::1]/', /link-local/],
    ['http://2130706433/', /127\.0\.0\.1 is a loopback address/],
    ['http://0x7f.1/', /loopback/],
    [`http://127.0.0.1:${pomboPort}/events/${name}`, /is Pombo itself/],
    ['https://pombo.example.com/events/x', /pombo\.example\.com is Pombo itself \(SERVER_URL\)/],
  ];
  for (const [url, message] of refused) {
    const response = await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url } }, token);
    assertError(response, 400, 'POMBO_ERR_VALIDATION', message);
  }
  assertError(await pombo.api('POST', '/instance/create', { instanceName: uniqueName('ssrf-c'), webhook: { url: 'http://127.0.0.1:9/' } }), 400, 'POMBO_ERR_VALIDATION', /loopback/);
  assertError(await pombo.api('POST', `/webhook/endpoints/${name}`, { url: 'http://169.254.169.254/' }, token), 400, 'POMBO_ERR_VALIDATION', /link-local/);
  assert.equal((await pombo.api('GET', `/webhook/find/${name}`, undefined, token)).body, null, 'nothing was stored');
});

test('a URL whose host name resolves to a refused address is a 400 when it is set, naming the variable; a name that does not resolve is accepted', async () => {
  const { name, token } = await tenant();
  const hook = `http://localhost:${port(receiver.url)}/hook`;
  const refusal = /^(webhook|endpoint)\.url is refused: localhost resolves to a loopback address; webhooks reach public addresses only \(WEBHOOK_ALLOW_PRIVATE_NETWORKS=false\)$/;
  const answers = [
    await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: hook } }, token),
    await pombo.api('POST', '/instance/create', { instanceName: uniqueName('ssrf-n'), integration: 'INGEST', webhook: { url: hook } }),
    await pombo.api('POST', `/webhook/endpoints/${name}`, { url: hook }, token),
  ];
  for (const answer of answers) {
    assertError(answer, 400, 'POMBO_ERR_VALIDATION', refusal);
    assert.doesNotMatch(answer.body.response.message[0], /127\.0\.0\.1|::1/, 'the tenant is not told which address the name has');
  }
  assert.equal((await pombo.api('GET', `/webhook/find/${name}`, undefined, token)).body, null, 'nothing was stored');
  // The receiver may not exist yet: a name without an address is taken, and each delivery checks it.
  const unresolved = 'http://receiver.invalid/hook';
  assert.equal((await pombo.api('POST', `/webhook/set/${name}`, { webhook: { url: unresolved } }, token)).status, 201);
  const endpoint = await pombo.api('POST', `/webhook/endpoints/${name}`, { url: unresolved }, token);
  assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
  assertError(await pombo.api('PATCH', `/webhook/endpoints/${name}/${endpoint.body.id}`, { url: hook }, token), 400, 'POMBO_ERR_VALIDATION', refusal);
  assert.equal((await pombo.api('GET', `/webhook/endpoints/${name}/${endpoint.body.id}`, undefined, token)).body.url, unresolved);
});

test('a name stored while WEBHOOK_ALLOW_PRIVATE_NETWORKS was true is refused when the delivery connects once it is false: dead, with the reason, nothing sent', async (t) => {
  const open = await startPombo({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
  const name = uniqueName('ssrf-r');
  // Calls only: the webhook of the create body would get its instance.create while private networks are open.
  const created = await open.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', webhook: { url: `http://localhost:${port(receiver.url)}/hook`, events: ['CALL'] } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const token = created.body.hash;
  await open.close({ keepData: true });
  const closed = await startPombo({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false', AUTHENTICATION_API_KEY: open.apiKey }, open.dataDir);
  t.after(async () => {
    await closed.close();
    rmSync(open.dataDir, { recursive: true, force: true });
  });
  assert.equal((await closed.api('POST', `/events/${name}`, { event: 'CALL', data: { n: 1 } }, token)).status, 201);
  const failed = await eventually(async () => {
    const page = await closed.api('GET', `/webhook/deliveries/${name}?status=failed`, undefined, token);
    return page.body.deliveries[0];
  }, 'a dead delivery');
  assert.equal(failed.attempts.length, 1, 'a refused address is not retried');
  assert.match(failed.attempts[0].error, /^refused: localhost resolves to a loopback address; webhooks reach public addresses only/);
  assert.doesNotMatch(failed.attempts[0].error, /127\.0\.0\.1|::1/, 'the tenant is not told which address the name has');
  assert.equal(failed.attempts[0].response, undefined);
  assert.equal(receiver.requests.length, 0, 'the receiver on loopback got nothing');
});

test('with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true private receivers work, Pombo itself is still refused at delivery, and only a short redacted excerpt is kept', async (t) => {
  const open = await startPombo({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
  t.after(() => open.close());
  const chatty = await startReceiver(() => ({ status: 500, body: `{"AccessKeyId":"AKIAEXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG","Token":"IQoJb3JpZ2luX2VjEXAMPLE"}${'x'.repeat(2000)}` }));
  t.after(() => chatty.close());
  const name = uniqueName('priv');
  const token = (await open.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', webhook: { url: `${chatty.url}/hook` } })).body.hash;
  assert.equal((await open.api('POST', `/events/${name}`, { event: 'CALL', data: {} }, token)).status, 201);
  const attempt = await eventually(async () => (await open.api('GET', `/webhook/deliveries/${name}`, undefined, token)).body.deliveries[0]?.attempts[0], 'an attempt');
  assert.equal(attempt.statusCode, 500);
  assert.ok(attempt.response.length <= 256, `${attempt.response.length} characters kept`);
  assert.ok(!/AKIAEXAMPLE|wJalrXUtnFEMI|IQoJb3JpZ2lu/.test(attempt.response), attempt.response);
  assert.match(attempt.response, /"SecretAccessKey":"\[redacted\]"/);

  // Pombo's own port through a name (the literal form is refused at set time).
  const self = uniqueName('self');
  const selfToken = (await open.api('POST', '/instance/create', { instanceName: self, integration: 'INGEST' })).body.hash;
  assertError(await open.api('POST', `/webhook/set/${self}`, { webhook: { url: `${open.url}/events/${name}` } }, selfToken), 400, 'POMBO_ERR_VALIDATION', /Pombo itself/);
  // One of this machine's own addresses, written as an IPv4 inside IPv6, is Pombo too.
  const own = Object.values(networkInterfaces()).flat().find((entry) => entry?.family === 'IPv4' && !entry.internal)?.address;
  if (own) {
    const mapped = `http://[::ffff:${own}]:${port(open.url)}/events/${name}`;
    assertError(await open.api('POST', `/webhook/set/${self}`, { webhook: { url: mapped } }, selfToken), 400, 'POMBO_ERR_VALIDATION', /Pombo itself/);
  }
  // And through a name, as soon as it is set.
  const byName = `http://localhost:${port(open.url)}/events/${name}`;
  assertError(await open.api('POST', `/webhook/set/${self}`, { webhook: { url: byName } }, selfToken), 400, 'POMBO_ERR_VALIDATION', /^webhook\.url is refused: localhost resolves to Pombo itself \(port \d+\)$/);
});

test('the connector checks every address a name has, connects to a checked one, and moves on from one that refuses', async (t) => {
  const bodies: string[] = [];
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      bodies.push(request.url ?? '');
      response.end('ok');
    });
  });
  // Only on 127.0.0.2: the same port on 127.0.0.1 refuses at once.
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', () => resolve()));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const answers: Record<string, string[]> = {
    'two.test': ['127.0.0.1', '127.0.0.2'],
    'rebind.test': ['93.184.216.34', '127.0.0.2'],
    'metadata.test': ['169.254.169.254'],
  };
  const agentFor = (allowPrivateNetworks: boolean) => {
    const policy = new OutboundAddressPolicy({
      ...WEBHOOK_ADDRESSES,
      allowPrivateNetworks,
      serverUrl: 'https://pombo.example.com',
      listenPort: () => undefined,
      resolve: async (host) => (answers[host] ?? []).map((address) => ({ address })),
    });
    const agent = policyAgent(policy, 2000);
    t.after(() => agent.close());
    return agent;
  };
  const post = (agent: Agent, host: string) => agent.request({ origin: `http://${host}:${port}`, path: `/${host}`, method: 'POST', body: '{}' });
  const open = agentFor(true);
  const answer = await post(open, 'two.test');
  assert.equal(answer.statusCode, 200);
  await answer.body.text();
  assert.deepEqual(bodies, ['/two.test'], '127.0.0.1 refused, 127.0.0.2 answered');

  const closed = agentFor(false);
  for (const host of ['two.test', 'rebind.test', 'metadata.test']) {
    await assert.rejects(post(closed, host), (error: Error) => error instanceof AddressRefused && /resolves to/.test(error.message), host);
  }
  assert.deepEqual(bodies, ['/two.test'], 'a name with any refused address gets nothing sent');
});

test('a global webhook set by the environment follows the same policy: a literal private address stops the boot', async () => {
  await assert.rejects(
    startPombo({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false', WEBHOOK_GLOBAL_ENABLED: 'true', WEBHOOK_GLOBAL_URL: 'http://169.254.169.254/hook' }),
    /WEBHOOK_GLOBAL_URL is refused: 169\.254\.169\.254 is a link-local address/,
  );
});

test('a global webhook whose host name resolves to a refused address stops the boot, naming the variable', async () => {
  await assert.rejects(
    startPombo({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false', WEBHOOK_GLOBAL_ENABLED: 'true', WEBHOOK_GLOBAL_URL: 'http://localhost:9/hook' }),
    /WEBHOOK_GLOBAL_URL is refused: localhost resolves to a loopback address; webhooks reach public addresses only \(WEBHOOK_ALLOW_PRIVATE_NETWORKS=false\)/,
  );
});

test('the address classes, IPv4 and IPv6, including IPv4 inside IPv6', () => {
  for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '172.32.0.1', '100.128.0.1']) assert.equal(nonPublicReason(address), undefined, address);
  for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::', '::1', 'fc00::1', 'fe80::1', '::ffff:10.0.0.1', '::ffff:7f00:1', '64:ff9b::a9fe:a9fe', '2002:c0a8:101::1']) {
    assert.ok(nonPublicReason(address), address);
  }
});
