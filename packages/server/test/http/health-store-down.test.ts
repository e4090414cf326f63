import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { createPombo } from '../../src/pombo.ts';
import { eventually } from '../helpers/pombo-harness.ts';
import { postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

/**
 * `GET /health` needs no key: when PostgreSQL is gone it says so without the driver's message (which
 * names the database's host and port); the operator finds that in the log, once when the store stops
 * answering (warn) and once when it answers again (info).
 */
const { uri, service } = await postgresTestSchema();

test('GET /health with PostgreSQL gone: 503 without its host or port; the log says when it stops and starts answering', { skip: 'skip' in service ? service.skip : false }, async (t) => {
  let proxy = await startTcpProxy({ port: 5432 });
  const port = proxy.port;
  const dir = mkdtempSync(join(tmpdir(), 'pombo-health-'));
  const lines: Array<{ level: number; msg: string; reason?: string }> = [];
  const log = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
  const env = { DATA_DIR: dir, AUTHENTICATION_API_KEY: 'health-key', DATABASE_PROVIDER: 'postgresql', DATABASE_CONNECTION_URI: uri.replace('127.0.0.1:5432', `127.0.0.1:${port}`) };
  const pombo = await createPombo(loadConfig(env, dir), log);
  t.after(async () => {
    await pombo.close().catch(() => undefined);
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = (await pombo.listen(0)).replace('0.0.0.0', '127.0.0.1');
  const health = async () => {
    const response = await fetch(`${url}/health`);
    return { status: response.status, text: await response.text() };
  };
  const about = (message: RegExp) => lines.filter((line) => message.test(line.msg));

  assert.equal((await health()).status, 200);
  await proxy.close();
  for (let check = 0; check < 2; check++) {
    const down = await health();
    assert.equal(down.status, 503, down.text);
    assert.equal(JSON.parse(down.text).code, 'POMBO_ERR_UNAVAILABLE');
    assert.match(down.text, /event store does not answer/);
    assert.doesNotMatch(down.text, new RegExp(`127\\.0\\.0\\.1|${port}|ECONN`), 'no host, port or driver error in a public answer');
  }
  const stopped = about(/stopped answering/);
  assert.equal(stopped.length, 1, 'logged once, not at every check');
  assert.equal(stopped[0]?.level, 40);
  assert.match(stopped[0]?.reason ?? '', new RegExp(`${port}`), 'the operator gets the reason in the log');

  proxy = await startTcpProxy({ port: 5432 }, port);
  await eventually(async () => (await health()).status === 200, '/health to answer 200 again');
  const again = about(/answers health checks again/);
  assert.equal(again.length, 1);
  assert.equal(again[0]?.level, 30);
});
