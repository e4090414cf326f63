import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { createPombo } from '../../src/pombo.ts';
import { io as ioClient } from 'socket.io-client';
import { cleanupRabbit, rabbitmqRequired, rabbitNames, RABBITMQ_URI } from '../brokers/rabbitmq-helpers.ts';
import { eventually } from '../helpers/pombo-harness.ts';
import { connect as connectRealtime } from '../realtime/ws-client.ts';
import { startReceiver } from '../webhook/http-receiver.ts';
import { FAST_RETRIES } from '../webhook/webhook-fixtures.ts';

test('logs at debug level carry neither keys, tokens nor message text', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const apiKey = `global-${randomBytes(12).toString('hex')}`;
  const token = `instance-${randomBytes(12).toString('hex')}`;
  const text = `confidential-${randomBytes(6).toString('hex')}`;
  let output = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      output += chunk;
      done();
    },
  });
  const config = loadConfig({ AUTHENTICATION_API_KEY: apiKey, DATA_DIR: dir, LOG_LEVEL: 'debug' }, dir);
  const pombo = await createPombo(config, createLogger('debug', sink));
  const url = (await pombo.listen(0)).replace('0.0.0.0', '127.0.0.1');
  const call = async (method: string, path: string, body: unknown, key: string) => {
    const response = await fetch(`${url}${path}`, { method, headers: { apikey: key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return response.status;
  };
  try {
    assert.equal(await call('POST', '/instance/create', { instanceName: 'alice', token, qrcode: true }, apiKey), 201);
    assert.equal(await call('POST', '/instance/create', { instanceName: 'bob', number: '5511922221111', qrcode: true }, apiKey), 201);
    assert.equal(await call('POST', '/message/sendText/alice', { number: '5511922221111', text }, token), 201);
    assert.equal(await call('POST', '/events/alice', { event: 'MESSAGES_UPSERT', data: { message: { conversation: text } } }, apiKey), 201);
    assert.equal(await call('POST', '/events/alice', { event: 'NOPE', data: { message: { conversation: text } } }, token), 400);
    assert.equal(await call('POST', '/events/bob', { event: 'CALL', data: { text } }, token), 403);
    assert.equal(await call('POST', '/events/alice', { event: 'CALL', data: { text } }, `${token}-wrong`), 401);
    assert.equal(await call('DELETE', '/instance/delete/alice', {}, token), 200);
  } finally {
    await pombo.close();
  }
  assert.match(output, /instance created/, 'the logger did write (the test can see a leak)');
  assert.ok(!output.includes(apiKey), 'the global API key is not logged');
  assert.ok(!output.includes(token), 'the instance token is not logged');
  assert.ok(!output.includes(text), 'message text is not logged');
});

/** The JSON lines a logger wrote, parsed. */
const linesOf = (output: string): Array<Record<string, any>> =>
  output
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, any>);

test('at info, operators see delivery failures, dead letters, recovery, refused connections and broker connections, with no secret or body', async (t) => {
  const rabbit = await rabbitmqRequired();
  if ('skip' in rabbit) return t.skip(rabbit.skip);
  const dir = mkdtempSync(join(tmpdir(), 'pombo-logs-'));
  const names = rabbitNames();
  const apiKey = `global-${randomBytes(12).toString('hex')}`;
  const answer = `receiver-answer-${randomBytes(6).toString('hex')}`;
  const text = `confidential-${randomBytes(6).toString('hex')}`;
  let flaky = 0;
  const receiver = await startReceiver((request) => {
    const marker = request.json?.data?.marker;
    if (marker === 'dead') return { status: 404, body: answer };
    if (marker === 'flaky' && flaky++ === 0) return { status: 500, body: answer };
    return { status: 200, body: answer };
  });
  let output = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      output += chunk;
      done();
    },
  });
  t.after(async () => {
    await receiver.close();
    await cleanupRabbit(names.exchange, names.prefix, []).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const env = {
    ...FAST_RETRIES,
    AUTHENTICATION_API_KEY: apiKey,
    DATA_DIR: dir,
    LOG_LEVEL: 'info',
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    RABBITMQ_ENABLED: 'true',
    RABBITMQ_URI,
    RABBITMQ_EXCHANGE_NAME: names.exchange,
    RABBITMQ_PREFIX_KEY: names.prefix,
  };
  const pombo = await createPombo(loadConfig(env, dir), createLogger('info', sink));
  const url = (await pombo.listen(0)).replace('0.0.0.0', '127.0.0.1');
  const call = async (method: string, path: string, body: unknown, key: string) => {
    const response = await fetch(`${url}${path}`, { method, headers: { apikey: key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return response.status;
  };
  const lines = () => linesOf(output);
  const line = (msg: string) => lines().find((entry) => entry.msg === msg);
  try {
    await eventually(() => line('broker connected'), 'the broker connection in the log');
    const webhook = { enabled: true, url: `${receiver.url}/hook`, headers: { authorization: `Bearer ${answer}` } };
    assert.equal(await call('POST', '/instance/create', { instanceName: 'alice', integration: 'INGEST', webhook }, apiKey), 201);
    assert.equal(await call('POST', '/events/alice', { event: 'MESSAGES_UPSERT', data: { marker: 'flaky', message: { conversation: text } } }, apiKey), 201);
    const retried = await eventually(() => line('delivery failed; will retry'), 'the retry in the log');
    await eventually(() => line('deliveries recovered'), 'the recovery in the log');
    assert.equal(await call('POST', '/events/alice', { event: 'MESSAGES_UPSERT', data: { marker: 'dead', message: { conversation: text } } }, apiKey), 201);
    const dead = await eventually(() => line('delivery dead-lettered'), 'the dead letter in the log');
    assert.equal(await call('GET', '/instance/fetchInstances', undefined, `${apiKey}-wrong`), 401);
    const refused = await eventually(() => line('request refused'), 'the refused request in the log');
    const socket = ioClient(`${url}/alice`, { transports: ['websocket'], reconnection: false, auth: { apikey: 'not-a-key' } });
    await new Promise((resolve) => socket.once('connect_error', resolve));
    socket.close();
    const socketRefused = await eventually(() => line('socket.io connection refused'), 'the refused socket in the log');
    await assert.rejects(connectRealtime(url, { query: { instance_id: 'alice', access_token: `${apiKey}-wrong` } }), /HTTP 401/);
    const realtimeRefused = await eventually(() => line('realtime connection refused'), 'the refused realtime connection in the log');

    assert.equal(retried.level, 30, 'a retry is logged at info');
    assert.deepEqual([retried.channel, retried.instance, retried.event, retried.attempt, retried.error], ['webhook', 'alice', 'messages.upsert', 1, 'HTTP 500']);
    assert.equal(dead.level, 40, 'a dead letter is a warning');
    assert.deepEqual([dead.instance, dead.attempt], ['alice', 1]);
    assert.match(dead.reason, /HTTP 404 is not retryable/);
    assert.deepEqual([refused.code, refused.path, refused.method], ['POMBO_ERR_UNAUTHORIZED', '/instance/fetchInstances', 'GET']);
    assert.deepEqual([socketRefused.code, socketRefused.namespace], ['POMBO_ERR_SOCKET_UNAUTHORIZED', '/alice']);
    assert.deepEqual([realtimeRefused.code, realtimeRefused.path, realtimeRefused.level], ['POMBO_ERR_UNAUTHORIZED', '/events/ws', 30]);
    assert.match(line('broker connected')?.target, /^RabbitMQ at amqp:\/\/127\.0\.0\.1:5672/);
  } finally {
    await pombo.close();
  }
  assert.ok(line('broker disconnected'), 'the broker disconnection is logged');
  assert.ok(lines().every((entry) => entry.level >= 30), 'nothing below info was written');
  for (const secret of [apiKey, answer, text, RABBITMQ_URI, 'guest:guest']) {
    assert.ok(!output.includes(secret), `${secret} is not logged`);
  }
});
