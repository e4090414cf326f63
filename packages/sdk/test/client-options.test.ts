import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PomboClient, PomboOptionError, type PomboClientOptions } from '../src/index.ts';
import { withPombo } from './sdk-fixtures.ts';

/** What a wrong option throws: a PomboOptionError (a TypeError) naming the option and what it takes. */
const refusal = (option: string, expected: RegExp) => (error: unknown) =>
  error instanceof PomboOptionError && error instanceof TypeError && error.option === option && expected.test(error.message) && error.message.startsWith(`${option}: expected`);

const construct = (options: unknown) => () => new PomboClient(options as PomboClientOptions);

test('new PomboClient() throws a TypeError naming the option for a missing key, a baseUrl that is not http(s)/ws(s), a negative timeout, a misspelt option', () => {
  const baseUrl = 'http://localhost:8080';
  // Left out, the client has no key of its own (subscriptions bring instance tokens); present but undefined is an unset variable.
  assert.ok(new PomboClient({ baseUrl }));
  assert.throws(construct({ baseUrl, apiKey: process.env.POMBO_SURELY_UNSET_KEY }), refusal('PomboClient.apiKey', /is the variable it comes from set/));
  assert.throws(construct({ baseUrl, apiKey: '' }), refusal('PomboClient.apiKey', /a non-empty string, got ""/));
  for (const wrong of ['localhost:8080', 'ftp://example.com', 'not a url', '', 8080]) {
    assert.throws(construct({ baseUrl: wrong, apiKey: 'k' }), refusal('PomboClient.baseUrl', /an http\(s\) or ws\(s\) URL/), String(wrong));
  }
  assert.throws(construct({ apiKey: 'k' }), refusal('PomboClient.baseUrl', /got nothing/));
  assert.throws(construct({ baseUrl, apiKey: 'k', timeoutMs: -1 }), refusal('PomboClient.timeoutMs', /a number of ms ≥ 0 \(0 or Infinity: no limit\), got number -1/));
  assert.throws(construct({ baseUrl, apiKey: 'k', timeoutMs: '30s' }), refusal('PomboClient.timeoutMs', /no limit\), got "30s"/));
  assert.throws(construct({ baseUrl, apiKey: 'k', fetch: 'fetch' }), refusal('PomboClient.fetch', /a function/));
  assert.throws(construct({ baseUrl, apikey: 'k' }), refusal('PomboClient.apikey', /no such option \(the options are baseUrl, apiKey, timeoutMs, fetch, transport\)/));
  assert.throws(construct(undefined), refusal('PomboClient', /an object of options/));
  for (const right of ['http://localhost:8080', 'https://example.com/pombo/', 'ws://localhost:8080', 'wss://example.com']) {
    assert.ok(new PomboClient({ baseUrl: right, apiKey: 'k', timeoutMs: 0, fetch: undefined }), right);
  }
});

test('subscribe() rejects a wrong option with a TypeError naming it, before connecting', async () => {
  const client = new PomboClient({ baseUrl: 'http://127.0.0.1:9', apiKey: 'k' });
  const wrong: Array<[Record<string, unknown>, string, RegExp]> = [
    [{}, 'subscribe.instanceId', /a non-empty string, got nothing/],
    [{ instanceId: 'a', maxRetries: -1 }, 'subscribe.maxRetries', /an integer ≥ 0 or Infinity, got number -1/],
    [{ instanceId: 'a', maxRetries: 2.5 }, 'subscribe.maxRetries', /an integer ≥ 0/],
    [{ instanceId: 'a', retryDelayMs: -5 }, 'subscribe.retryDelayMs', /a number ≥ 0/],
    [{ instanceId: 'a', maxRetryDelayMs: Number.NaN }, 'subscribe.maxRetryDelayMs', /a number ≥ 0, got number NaN/],
    [{ instanceId: 'a', concurrency: 0 }, 'subscribe.concurrency', /an integer ≥ 1 or Infinity, got number 0/],
    [{ instanceId: 'a', pingIntervalMs: -1 }, 'subscribe.pingIntervalMs', /a number ≥ 0/],
    [{ instanceId: 'a', dedupe: -10 }, 'subscribe.dedupe', /true, false or an integer ≥ 0/],
    [{ instanceId: 'a', events: 'Message' }, 'subscribe.events', /an array of event names, got "Message"/],
    [{ instanceId: 'a', credentials: 'header' }, 'subscribe.credentials', /"headers" or "query", got "header"/],
    [{ instanceId: 'a', instanceToken: '' }, 'subscribe.instanceToken', /a non-empty string/],
    [{ instanceId: 'a', lastEventID: 'evt_1' }, 'subscribe.lastEventID', /no such option/],
  ];
  for (const [request, option, expected] of wrong) {
    await assert.rejects(client.events.subscribe(request as never), refusal(option, expected), option);
  }
});

test('a ws:// baseUrl serves REST over http and realtime over ws', async () => {
  await withPombo({}, async (pombo, _admin, name) => {
    const client = new PomboClient({ baseUrl: pombo.url.replace(/^http/, 'ws'), apiKey: pombo.apiKey });
    assert.equal((await client.instances.connectionState(name)).instance.instanceName, name);
    const sub = await client.events.subscribe({ instanceId: name, lastEventId: undefined });
    assert.equal(sub.state, 'open');
    await sub.close();
  });
});

test('a client built without an apiKey subscribes with an instance token alone (no global key in a browser app)', async () => {
  await withPombo({}, async (pombo, admin, name) => {
    const [instance] = await admin.instances.fetch({ instanceName: name });
    const keyless = new PomboClient({ baseUrl: pombo.url });
    await using sub = await keyless.events.subscribe({ instanceId: name, instanceToken: instance!.token });
    assert.equal(sub.state, 'open');
    await assert.rejects(keyless.events.subscribe({ instanceId: name }), /no credentials: pass instanceToken, or create the client with an apiKey/);
  });
});
