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
