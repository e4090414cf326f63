import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { callApi, freePort, spawnPombo, type ChildPombo } from '../helpers/child-pombo.ts';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';
import { receiverFor } from './http-receiver.ts';
import { message } from './webhook-fixtures.ts';

/** Resolves with the child's exit code (or signal) and how long after `since` it exited. */
function exited(child: ChildProcess, since: number): Promise<{ code: number | null; signal: string | null; ms: number }> {
  return new Promise((resolve) => {
    const done = () => resolve({ code: child.exitCode, signal: child.signalCode, ms: Date.now() - since });
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once('exit', done);
  });
}

/** A data folder and API key for one test, the folder removed when it ends. */
function setup(t: { after(fn: () => unknown): void }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-shutdown-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  // The webhook request timeout left at its default (60 s): shutdown must not wait for it.
  return { DATA_DIR: dataDir, AUTHENTICATION_API_KEY: `stop-${randomBytes(8).toString('hex')}`, LOG_LEVEL: 'info' };
}

/** Pombo with a webhook to `url`, and one event ingested; resolves with the event's id. */
async function ingestOne(pombo: ChildPombo, key: string, url: string): Promise<string> {
  const name = uniqueName('stop');
  await callApi(pombo.url, key, 'POST', '/instance/create', { instanceName: name, integration: 'INGEST', webhook: { url } });
  const appended = await callApi(pombo.url, key, 'POST', `/events/${name}`, { events: [message('1@s.whatsapp.net', 'at-shutdown')] });
  return appended.events[0].id as string;
}

test('SIGTERM with a webhook that never answers: Pombo stops within seconds, and the event is delivered after the restart', { timeout: 90_000 }, async (t) => {
  const env = setup(t);
  const silent = await receiverFor(t, () => ({ hang: true }));
  const port = await freePort();
  let pombo = await spawnPombo(env, port);
  t.after(() => pombo.kill());
  const id = await ingestOne(pombo, env.AUTHENTICATION_API_KEY, `${silent.url}/hook`);
  await eventually(() => silent.requests.some((request) => request.json?.id === id), 'the delivery in flight');

  const signalledAt = Date.now();
  pombo.child.kill('SIGTERM');
  const exit = await exited(pombo.child, signalledAt);
  assert.equal(exit.code, 0, pombo.stdout());
  assert.ok(exit.ms < 10_000, `stopped ${exit.ms} ms after SIGTERM`);
  assert.match(pombo.stdout(), /"elapsedMs":\d+.*"msg":"stopped"/);

  // The receiver answers now: the delivery cut short at shutdown is made again.
  silent.respond = () => ({ status: 200 });
  pombo = await spawnPombo(env, port);
  await eventually(() => silent.deliveredIds().includes(id), 'the event delivered after the restart', 20_000);
});

test('a second SIGTERM during the shutdown exits at once, with a non-zero code', { timeout: 60_000 }, async (t) => {
  const env = setup(t);
  const silent = await receiverFor(t, () => ({ hang: true }));
  const pombo = await spawnPombo(env, await freePort());
  t.after(() => pombo.kill());
  const id = await ingestOne(pombo, env.AUTHENTICATION_API_KEY, `${silent.url}/hook`);
  await eventually(() => silent.requests.some((request) => request.json?.id === id), 'the delivery in flight');

  pombo.child.kill('SIGTERM');
  await eventually(() => pombo.stdout().includes('shutting down'), 'the first signal heard');
  const signalledAt = Date.now();
  pombo.child.kill('SIGTERM');
  const exit = await exited(pombo.child, signalledAt);
  assert.notEqual(exit.code, 0);
  assert.ok(exit.ms < 1000, `exited ${exit.ms} ms after the second SIGTERM`);
});
