import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startPombo, uniqueName } from '../helpers/pombo-harness.ts';
import { startReceiver } from './http-receiver.ts';

test('WEBHOOK_EVENTS_ERRORS posts each API error to WEBHOOK_EVENTS_ERRORS_WEBHOOK in Evolution’s shape, without keys or bodies', async () => {
  const receiver = await startReceiver();
  const pombo = await startPombo({ WEBHOOK_EVENTS_ERRORS: 'true', WEBHOOK_EVENTS_ERRORS_WEBHOOK: `${receiver.url}/errors?team=ops` });
  try {
    const ghost = uniqueName('ghost');
    const secretText = 'do-not-leak-this-body-text';
    assert.equal((await pombo.api('POST', `/message/sendText/${ghost}?apikey=${pombo.apiKey}`, { number: '5511999990000', text: secretText })).status, 404);
    assert.equal((await pombo.api('GET', '/instance/fetchInstances', undefined, 'wrong-key-wrong-key')).status, 401);
    const name = uniqueName('alice');
    await pombo.sandbox(name);
    assert.equal((await pombo.api('POST', `/message/sendText/${name}`, { number: 'not a number', text: secretText })).status, 400);
    assert.equal((await pombo.api('GET', `/instance/connectionState/${name}`)).status, 200, 'a success is not reported');

    await eventually(() => receiver.requests.length >= 3, 'three error reports');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(receiver.requests.length, 3, 'one report per error answer, none for successes');
    for (const request of receiver.requests) {
      assert.equal(request.method, 'POST');
      assert.equal(request.url, '/errors?team=ops', 'the configured URL as it is');
      assert.match(String(request.headers['content-type']), /^application\/json/);
      assert.ok(!request.body.includes(pombo.apiKey), 'the global key is never sent');
      assert.ok(!request.body.includes('wrong-key-wrong-key'), 'nor a key the client sent');
      assert.ok(!request.body.includes(secretText), 'nor the request body');
      assert.deepEqual(Object.keys(request.json).sort(), ['api_key', 'data', 'date_time', 'event', 'server_url']);
      assert.equal(request.json.event, 'error');
      assert.equal(request.json.api_key, null);
      assert.equal(new Date(request.json.date_time).toISOString(), request.json.date_time);
    }
    const [missing, unauthorized, invalid] = receiver.requests.map((r) => r.json.data);
    assert.equal(missing.status, 404);
    assert.equal(missing.code, 'POMBO_ERR_INSTANCE_NOT_FOUND');
    assert.equal(missing.error, 'Not Found');
    assert.equal(missing.message, `The "${ghost}" instance does not exist`);
    assert.deepEqual(missing.response, { message: [`The "${ghost}" instance does not exist`] });
    assert.equal(missing.method, 'POST');
    assert.equal(missing.path, `/message/sendText/${ghost}`, 'the path without its query string');
    assert.equal(unauthorized.status, 401);
    assert.equal(unauthorized.code, 'POMBO_ERR_UNAUTHORIZED');
    assert.equal(invalid.status, 400);
    assert.equal(invalid.code, 'POMBO_ERR_VALIDATION');
    assert.match(invalid.message, /number/);
  } finally {
    await pombo.close();
    await receiver.close();
  }
});

test('WEBHOOK_EVENTS_ERRORS=true without a URL stops the boot; neither variable is taken for an event toggle', async () => {
  await assert.rejects(startPombo({ WEBHOOK_EVENTS_ERRORS: 'true' }), /WEBHOOK_EVENTS_ERRORS=true needs WEBHOOK_EVENTS_ERRORS_WEBHOOK/);
  await assert.rejects(
    startPombo({ WEBHOOK_EVENTS_ERRORS: 'true', WEBHOOK_EVENTS_ERRORS_WEBHOOK: 'http://127.0.0.1:9/errors', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' }),
    /WEBHOOK_EVENTS_ERRORS_WEBHOOK is refused: 127\.0\.0\.1 is a loopback/,
  );
  const pombo = await startPombo({ WEBHOOK_EVENTS_ERRORS_WEBHOOK: 'http://127.0.0.1:9/errors', WEBHOOK_EVENTS_MESSAGES_UPSERT: 'true' });
  try {
    assert.deepEqual([...pombo.pombo.context.config.webhook.globalEvents], ['MESSAGES_UPSERT']);
    assert.equal(pombo.pombo.context.config.webhook.errorsUrl, undefined, 'off unless WEBHOOK_EVENTS_ERRORS=true, as in Evolution API');
  } finally {
    await pombo.close();
  }
  const alone = await startPombo({ WEBHOOK_EVENTS_ERRORS: 'true', WEBHOOK_EVENTS_ERRORS_WEBHOOK: 'http://127.0.0.1:9/errors' });
  try {
    assert.ok(alone.pombo.context.config.webhook.globalEvents.has('MESSAGES_UPSERT'), 'turning the error webhook on leaves the global webhook sending every event');
  } finally {
    await alone.close();
  }
});
