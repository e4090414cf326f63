import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, requireService, startPombo, uniqueName } from '../helpers/pombo-harness.ts';
import { drained, phone } from './broker-test-helpers.ts';
import { dataOf, failNextTriggers, pusherAvailable, recorded, testApp } from './pusher-recorder.ts';

const needsPusher = requireService(await pusherAvailable(), 'A Pusher-protocol server on 127.0.0.1:6001', 'run scripts/services/pusher.sh');

// The test server is on 127.0.0.1: a per-instance host there needs private networks allowed.
const PUSHER_ENV = { PUSHER_ENABLED: 'true', PUSHER_RETRY_MAX_DELAY_MS: '300', PUSHER_ALLOW_PRIVATE_NETWORKS: 'true' };

test('sandbox events are triggered on evolution.{instance} as UPPER_SNAKE events with the instance credentials; find masks the secret', needsPusher, async () => {
  const pombo = await startPombo(PUSHER_ENV);
  try {
    const app = testApp();
    const alice = uniqueName('alice');
    const bob = uniqueName('bob');
    const bobNumber = phone();
    await pombo.sandbox(alice);
    const created = await pombo.api('POST', '/instance/create', {
      instanceName: bob,
      number: bobNumber,
      qrcode: true,
      pusher: { enabled: true, ...app, events: ['MESSAGES_UPSERT'] },
    });
    assert.equal(created.status, 201);
    assert.doesNotMatch(JSON.stringify(created.body), new RegExp(app.secret), 'the create answer hides the secret');
    await pombo.api('POST', `/message/sendText/${alice}`, { number: bobNumber, text: 'Olá, Pusher' });

    const [event] = await eventually(async () => {
      const events = await recorded(`evolution.${bob}`);
      return events.length >= 1 ? events : undefined;
    }, 'the trigger on evolution.{bob}');
    assert.equal(event?.name, 'MESSAGES_UPSERT', 'the seed pusher-js example binds MESSAGES_UPSERT');
    assert.equal(event?.appId, app.appId);
    const data = JSON.parse(event?.data ?? '{}');
    assert.equal(data.event, 'messages.upsert');
    assert.equal(data.instance, bob);
    assert.equal(data.destination, app.appId);
    assert.equal(data.data.message.conversation, 'Olá, Pusher');
    assert.match(data.id, /^evt_/);

    const found = await drained(pombo, 'pusher', bob);
    assert.equal(found.secret, '********');
    assert.equal(found.appId, app.appId);
    assert.equal(found.host, '127.0.0.1');
    assert.doesNotMatch(JSON.stringify(found), new RegExp(app.secret));
    assert.equal(found.state.connection, 'connected');
    assert.deepEqual(
      (await recorded(`evolution.${bob}`)).map((e) => e.name),
      ['MESSAGES_UPSERT'],
      'the instance filter kept CONNECTION_UPDATE and the rest out',
    );
    assert.deepEqual(await recorded(`evolution.${alice}`), [], 'alice has no pusher config');
  } finally {
    await pombo.close();
  }
});

test('global mode triggers with PUSHER_GLOBAL_* credentials and PUSHER_EVENTS_* filters; batches keep the order', needsPusher, async () => {
  const app = testApp();
  const pombo = await startPombo({
    ...PUSHER_ENV,
    PUSHER_GLOBAL_ENABLED: 'true',
    PUSHER_GLOBAL_APP_ID: app.appId,
    PUSHER_GLOBAL_KEY: app.key,
    PUSHER_GLOBAL_SECRET: app.secret,
    PUSHER_GLOBAL_HOST: app.host,
    PUSHER_GLOBAL_PORT: String(app.port),
    PUSHER_GLOBAL_USE_TLS: 'false',
    PUSHER_EVENTS_MESSAGES_UPSERT: 'true',
  });
  try {
    const name = uniqueName('ingest');
    await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
    const events = Array.from({ length: 25 }, (_, n) => ({ event: 'MESSAGES_UPSERT', data: { key: { id: `M${n}` }, n } }));
    await pombo.api('POST', `/events/${name}`, { events: [{ event: 'SEND_MESSAGE', data: { n: -1 } }, ...events] });
    const got = await eventually(async () => {
      const all = await recorded(`evolution.${name}`);
      return all.length >= 25 ? all : undefined;
    }, '25 triggers');
    assert.deepEqual(dataOf(got).map((data) => data.data.n), events.map((_, n) => n), 'in log order, SEND_MESSAGE filtered out');
    assert.ok(got.every((event) => event.name === 'MESSAGES_UPSERT' && event.appId === app.appId));
  } finally {
    await pombo.close();
  }
});

test('a refused trigger call is sent again from there: every event once, in order', needsPusher, async () => {
  const pombo = await startPombo(PUSHER_ENV);
  try {
    const name = uniqueName('refused');
    await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', pusher: testApp() });
    await failNextTriggers(503, 1);
    const events = Array.from({ length: 25 }, (_, n) => ({ event: 'MESSAGES_UPSERT', data: { key: { id: `R${n}` }, n } }));
    await pombo.api('POST', `/events/${name}`, { events });
    await drained(pombo, 'pusher', name);
    // The instance's INSTANCE_CREATE, triggered before them (its Pusher is set in the create body), is left out.
    const numbers = dataOf((await recorded(`evolution.${name}`)).filter((event) => event.name === 'MESSAGES_UPSERT')).map((data) => data.data.n);
    assert.deepEqual(numbers, events.map((_, n) => n), 'the calls after the refused one waited for it');
  } finally {
    await pombo.close();
  }
});

test('wrong credentials are a visible, retried error; fixing them with /pusher/set delivers what waited', needsPusher, async () => {
  const pombo = await startPombo(PUSHER_ENV);
  try {
    const app = testApp();
    const name = uniqueName('ingest');
    const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', pusher: { ...app, secret: 'not-the-secret' } });
    assert.equal(created.status, 201);
    const posted = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { key: { id: 'W1' } } });
    const failing = await eventually(async () => {
      const found = await pombo.api('GET', `/pusher/find/${name}`);
      return found.body.state.lastError && found.body;
    }, 'the error in find');
    assert.match(failing.state.lastError, /Pusher answered 401/);
    assert.ok(failing.state.backlog >= 1);

    const fixed = await pombo.api('POST', `/pusher/set/${name}`, { pusher: { enabled: true, ...app } });
    assert.equal(fixed.status, 201);
    // Behind the instance's INSTANCE_CREATE, which waited as well.
    const [event] = await eventually(async () => {
      const all = (await recorded(`evolution.${name}`)).filter((triggered) => triggered.name === 'MESSAGES_UPSERT');
      return all.length >= 1 ? all : undefined;
    }, 'the waiting event');
    assert.equal(JSON.parse(event?.data ?? '{}').id, posted.body.id);
  } finally {
    await pombo.close();
  }
});

test('an event over the 10 KB limit is triggered as a reference that resolves', needsPusher, async () => {
  const pombo = await startPombo(PUSHER_ENV);
  try {
    const name = uniqueName('big');
    const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', pusher: testApp() });
    const big = { key: { remoteJid: 'x@s.whatsapp.net', id: 'BIG' }, message: { conversation: 'ã'.repeat(8000) } };
    const large = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: big });
    const [reference] = dataOf(
      await eventually(async () => {
        const all = (await recorded(`evolution.${name}`)).filter((event) => event.name === 'MESSAGES_UPSERT');
        return all.length >= 1 ? all : undefined;
      }, 'the reference'),
    );
    assert.equal(reference.dataType, 'reference');
    assert.equal(reference.id, large.body.id);
    assert.ok(reference.size > 10_240);
    const fetched = await pombo.api('GET', new URL(reference.fetch).pathname, undefined, created.body.hash);
    assert.deepEqual(fetched.body.data, big);
  } finally {
    await pombo.close();
  }
});

test('bad Pusher configuration is refused with the field or variable named', async () => {
  await assert.rejects(
    startPombo({ PUSHER_ENABLED: 'true', PUSHER_GLOBAL_ENABLED: 'true', PUSHER_GLOBAL_KEY: 'k' }),
    (error: Error) =>
      /PUSHER_GLOBAL_APP_ID is required/.test(error.message) &&
      /PUSHER_GLOBAL_SECRET is required/.test(error.message) &&
      /PUSHER_GLOBAL_CLUSTER \(or PUSHER_GLOBAL_HOST/.test(error.message),
  );
  const pombo = await startPombo(PUSHER_ENV);
  try {
    const name = uniqueName('bad');
    await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
    const missing = await pombo.api('POST', `/pusher/set/${name}`, { pusher: { enabled: true, appId: '1', key: 'k', cluster: 'us2' } });
    assert.equal(missing.status, 400);
    assert.match(missing.body.response.message[0], /pusher\.secret is required/);
    const masked = await pombo.api('POST', `/pusher/set/${name}`, { pusher: { enabled: true, appId: '1', key: 'k', secret: '********', cluster: 'us2' } });
    assert.equal(masked.status, 400, 'a secret copied from find is refused rather than stored');
  } finally {
    await pombo.close();
  }
});
