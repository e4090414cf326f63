import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

/**
 * In docker compose or systemd, PostgreSQL often accepts connections a few seconds after Pombo
 * starts: the start waits for it (DATABASE_CONNECT_TIMEOUT_MS), and gives up with a clear message
 * when nothing ever answers. The database "comes up" as a TCP proxy to the machine's PostgreSQL that
 * the test starts late on the port Pombo was given.
 */
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const { schema, service } = await postgresTestSchema();
const PASSWORD = 's3cret-pw';
const uriOn = (port: number) => `postgresql://postgres:${PASSWORD}@127.0.0.1:${port}/test?schema=${schema}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a PostgreSQL that starts accepting connections after Pombo: the start waits for it, then Pombo is healthy', service, async (t) => {
  const dbPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-pg-late-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const starting = spawnPombo(
    { AUTHENTICATION_API_KEY: 'k'.repeat(20), DATA_DIR: dataDir, DATABASE_PROVIDER: 'postgresql', DATABASE_CONNECTION_URI: uriOn(dbPort) },
    await freePort(),
  );
  // PostgreSQL still booting: its port resets Pombo's first connection, then refuses them for a second.
  const booting = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => booting.listen(dbPort, '127.0.0.1', resolve));
  const tried = once(booting, 'connection');
  await Promise.race([tried, starting]);
  await new Promise((resolve) => booting.close(resolve));
  await sleep(1000);
  const proxy = await startTcpProxy({ port: 5432 }, dbPort);
  t.after(() => proxy.close());
  const pombo = await starting;
  t.after(() => pombo.kill());
  const health = await fetch(`${pombo.url}/health`);
  assert.deepEqual(await health.json(), { status: 'ok', store: 'postgresql' });
  const waits = pombo
    .stdout()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((line) => line.msg === 'PostgreSQL is not reachable yet; retrying');
  assert.ok(waits.length >= 1 && waits.length <= 8, `each wait is logged once (${waits.length} lines over about 1 s)`);
  assert.equal(waits[0].level, 40, 'at warn');
  assert.equal(waits[0].target, `postgresql://postgres:***@127.0.0.1:${dbPort}/test`, 'the database is named, its password masked');
  assert.ok(!pombo.stdout().includes(PASSWORD), 'the password is never logged');
});

/** Runs Pombo on the database at `uri` with DATABASE_CONNECT_TIMEOUT_MS=`timeoutMs` until it exits: its code, stdout and stderr, and how long it ran. */
async function startUntilExit(t: { after(fn: () => void): void }, uri: string, timeoutMs: number): Promise<{ code: number | null; output: string; elapsed: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-pg-late-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      AUTHENTICATION_API_KEY: 'k'.repeat(20),
      DATA_DIR: dataDir,
      SERVER_PORT: String(await freePort()),
      DATABASE_PROVIDER: 'postgresql',
      DATABASE_CONNECTION_URI: uri,
      DATABASE_CONNECT_TIMEOUT_MS: String(timeoutMs),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(killer);
  return { code, output, elapsed: Date.now() - started };
}

test('a PostgreSQL that never answers: exit 78 after DATABASE_CONNECT_TIMEOUT_MS, naming DATABASE_CONNECTION_URI and what to do', async (t) => {
  const { code, output, elapsed } = await startUntilExit(t, uriOn(await freePort()), 3000);
  assert.equal(code, 78, output);
  assert.ok(elapsed >= 3000, `it waited the 3 s it was given (${elapsed} ms)`);
  assert.ok(elapsed < 15_000, `then it stopped (${elapsed} ms)`);
  assert.match(output, /Invalid configuration:\n {2}- DATABASE_CONNECTION_URI: PostgreSQL at \S+ could not be opened: .*ECONNREFUSED/);
  assert.match(output, /DATABASE_CONNECT_TIMEOUT_MS=3000\): check that it runs and accepts connections there/);
  assert.match(output, /PostgreSQL is not reachable yet; retrying/, 'the waits were logged');
  assert.ok(!output.includes(PASSWORD), 'the password is never shown');
});

test('a PostgreSQL that accepts connections and never answers (hung, or a proxy to nothing): the start gives up within DATABASE_CONNECT_TIMEOUT_MS and 2 s, not after a whole 10 s connection attempt', async (t) => {
  const silent = createServer((socket) => t.after(() => socket.destroy()));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const port = (silent.address() as AddressInfo).port;
  const { code, output, elapsed } = await startUntilExit(t, uriOn(port), 3000);
  assert.equal(code, 78, output);
  assert.ok(elapsed >= 3000, `it waited the 3 s it was given (${elapsed} ms)`);
  assert.ok(elapsed < 5000, `then it stopped (${elapsed} ms)`);
  assert.match(output, /Invalid configuration:\n {2}- DATABASE_CONNECTION_URI: PostgreSQL at \S+ could not be opened: .*DATABASE_CONNECT_TIMEOUT_MS=3000\): check that it runs and accepts connections there/);
});
