import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { callApi, freePort, spawnPombo } from '../helpers/child-pombo.ts';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';
import { HTTP_DRAIN_MS } from '../../src/http/http-server.ts';

/** One raw HTTP/1.1 request to ingest an event, its body as a string. */
function ingestRequest(name: string, key: string, body: string): { head: string; body: string } {
  const head = `POST /events/${name} HTTP/1.1\r\nHost: 127.0.0.1\r\napikey: ${key}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
  return { head, body };
}

/** The JSON bodies of the HTTP responses in `text` (content-length framed), with their status. */
function responses(text: string): Array<{ status: number; json: any }> {
  const found: Array<{ status: number; json: any }> = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return found;
    const head = rest.slice(0, end);
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    const body = rest.slice(end + 4, end + 4 + length);
    found.push({ status: Number(head.split(' ')[1]), json: JSON.parse(body) });
    rest = rest.slice(end + 4 + length);
  }
}

/** A Pombo process of its own (its data removed after the test) with one INGEST instance. */
async function pomboWithInstance(t: TestContext) {
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-drain-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const key = `drain-${randomBytes(8).toString('hex')}`;
  const pombo = await spawnPombo({ DATA_DIR: dataDir, AUTHENTICATION_API_KEY: key, LOG_LEVEL: 'info' }, await freePort());
  t.after(() => pombo.kill());
  const name = uniqueName('drain');
  await callApi(pombo.url, key, 'POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
  return { pombo, key, name };
}

test('SIGTERM lets a request whose body is half-sent finish, and answers one that comes after it with POMBO_ERR_UNAVAILABLE', { timeout: 60_000 }, async (t) => {
  const { pombo, key, name } = await pomboWithInstance(t);

  const event = (text: string) => JSON.stringify({ events: [{ event: 'MESSAGES_UPSERT', data: { key: { id: text }, message: { conversation: text } } }] });
  const first = ingestRequest(name, key, event('half-sent at SIGTERM'));
  const socket = connect(Number(new URL(pombo.url).port), '127.0.0.1');
  let received = '';
  socket.on('data', (chunk) => (received += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => socket.once('connect', resolve));
  const half = Math.floor(first.body.length / 2);
  socket.write(first.head + first.body.slice(0, half));
  // The server has read the headers (the request is in progress) before the signal.
  await new Promise((resolve) => setTimeout(resolve, 300));

  pombo.child.kill('SIGTERM');
  await eventually(() => pombo.stdout().includes('shutting down'), 'the signal heard');
  await new Promise((resolve) => setTimeout(resolve, 300));
  // The rest of the body, and a second request pipelined behind it: it arrives during the shutdown.
  const second = ingestRequest(name, key, event('after SIGTERM'));
  socket.write(first.body.slice(half) + second.head + second.body);
  await closed;

  const answers = responses(received);
  assert.ok(answers.length >= 1, `an answer, not an empty reply: ${JSON.stringify(received)}`);
  assert.equal(answers[0]?.status, 201, JSON.stringify(answers[0]));
  assert.equal(answers[0]?.json.events.length, 1);
  assert.equal(answers[1]?.status, 503, received);
  assert.equal(answers[1]?.json.code, 'POMBO_ERR_UNAVAILABLE', JSON.stringify(answers[1]?.json));
  assert.match(answers[1]?.json.response.message[0], /shutting down/);
  await new Promise((resolve) => pombo.child.exitCode !== null ? resolve(undefined) : pombo.child.once('exit', resolve));
  assert.equal(pombo.child.exitCode, 0);
});

test('a keep-alive connection whose request finished during the shutdown is closed then, not at the end of the drain', { timeout: 60_000 }, async (t) => {
  const { pombo, key, name } = await pomboWithInstance(t);

  const request = ingestRequest(name, key, JSON.stringify({ events: [{ event: 'MESSAGES_UPSERT', data: { key: { id: 'x' } } }] }));
  const socket = connect(Number(new URL(pombo.url).port), '127.0.0.1');
  let received = '';
  socket.on('data', (chunk) => (received += chunk));
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(request.head + request.body.slice(0, 10));
  await new Promise((resolve) => setTimeout(resolve, 300));
  pombo.child.kill('SIGTERM');
  await eventually(() => pombo.stdout().includes('shutting down'), 'the signal heard');
  const answeredAt = Date.now();
  socket.write(request.body.slice(10));
  await new Promise((resolve) => socket.once('close', resolve));
  assert.equal(responses(received)[0]?.status, 201, received);
  await new Promise((resolve) => (pombo.child.exitCode !== null ? resolve(undefined) : pombo.child.once('exit', resolve)));
  assert.ok(Date.now() - answeredAt < HTTP_DRAIN_MS / 2, `exited ${Date.now() - answeredAt} ms after the answer`);
});
