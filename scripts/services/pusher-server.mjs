#!/usr/bin/env node
// A small Pusher-protocol test server (HTTP trigger API, public channels over
// WebSocket), node built-ins only.
//
// Why not soketi: @soketi/soketi depends on uWebSockets.js, which npm fetches
// from GitHub (git+ssh); this machine reaches only the npm registry, Maven
// Central and Debian, so `npm install @soketi/soketi` fails at once
// ("Could not resolve hostname github.com"). Pombo only needs the server side
// of Pusher (triggering events), so this implements that part and records
// what was triggered, for tests to read back.
//
// Implements, as the published Pusher HTTP API does:
//   POST /apps/:appId/events        {name, data, channels|channel, socket_id?, info?}
//   POST /apps/:appId/batch_events  {batch: [{channel, name, data, socket_id?, info?}]}
// Every request is authenticated:
//   query auth_key (the app's key), auth_timestamp (within 600s of now),
//   auth_version=1.0, body_md5 (md5 hex of the raw body),
//   auth_signature = hex HMAC-SHA256(secret,
//     "POST\n<path>\n<query params except auth_signature, keys lowercased,
//      sorted by key, joined as key=value with &>")
//   -> 401 otherwise. Limits: event name <= 200 chars, channel names <= 200
//   chars of [-a-zA-Z0-9_=@,.;], <= 100 channels per event (400), data <= 10 KB
//   per event (413), <= 10 events per batch (400).
//
// Clients (pusher-js with wsHost/wsPort, forceTLS false) connect to /app/:key
// over WebSocket and subscribe to public channels (pusher:subscribe); every
// event triggered on such a channel is sent to its subscribers. Private and
// presence channels are refused (pusher:error 4009).
//
// Test-only endpoints (no auth; the server listens on loopback only):
//   GET    /_recorded[?channel=..][&name=..]  -> [{appId, channel, name, data, socketId, receivedAt}]
//   DELETE /_recorded                         -> clears the record
//   POST   /_faults {status, count}           -> the next `count` trigger calls answer `status`
//                                                (count -1 = until cleared); DELETE /_faults clears
//   GET    /_health                           -> {ok: true, apps: [{appId, key}]}
//
// Config (env):
//   PUSHER_PORT        default 6001 (listens on 127.0.0.1; 0 takes a free port,
//                      printed in the first line)
//   PUSHER_TEST_APPS   "appId:key:secret,appId2:key2:secret2"; default: one app
//                      pombo-test:pombo-key:<secret from PUSHER_SECRET_FILE>
//   PUSHER_SECRET_FILE default $POMBO_SERVICES_DIR/pusher/secret (created with a
//                      random secret when missing)
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const HOST = '127.0.0.1';
const PORT = Number(process.env.PUSHER_PORT ?? 6001);
const MAX_TIMESTAMP_SKEW_S = 600;
const MAX_DATA_BYTES = 10 * 1024;
const MAX_BATCH = 10;
const MAX_CHANNELS = 100;
const MAX_NAME = 200;
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_RECORDED = 100_000;
const CHANNEL_RE = /^[-a-zA-Z0-9_=@,.;]+$/;

function loadApps() {
  const spec = process.env.PUSHER_TEST_APPS?.trim();
  const apps = new Map();
  if (spec) {
    for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      const parts = entry.split(':');
      if (parts.length !== 3 || parts.some((p) => p === '')) {
        throw new Error(`PUSHER_TEST_APPS entry "${entry}" is not appId:key:secret`);
      }
      const [appId, key, secret] = parts;
      apps.set(appId, { appId, key, secret });
    }
    return apps;
  }
  const root = process.env.POMBO_SERVICES_DIR ?? path.join(os.homedir(), '.cache', 'pombo-services');
  const file = process.env.PUSHER_SECRET_FILE ?? path.join(root, 'pusher', 'secret');
  let secret;
  try {
    secret = fs.readFileSync(file, 'utf8').trim();
  } catch {
    secret = '';
  }
  if (!secret) {
    secret = crypto.randomBytes(20).toString('hex');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, secret + '\n', { mode: 0o600 });
  }
  apps.set('pombo-test', { appId: 'pombo-test', key: 'pombo-key', secret });
  return apps;
}

const apps = loadApps();
const appsByKey = new Map([...apps.values()].map((a) => [a.key, a]));
let recorded = [];
let fault = null; // { status, remaining }

function send(res, status, body) {
  const isText = typeof body === 'string';
  const payload = isText ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, 'Request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function safeEqualHex(a, b) {
  const ba = Buffer.from(String(a), 'utf8');
  const bb = Buffer.from(String(b), 'utf8');
  return ba.length === bb.length && crypto.timingSafeEqual(ba, bb);
}

// Checks a signed request as Pusher does; returns the app or throws 401.
function authenticate(method, url, appId, rawBody) {
  const app = apps.get(appId);
  if (!app) throw new HttpError(404, `Unknown app id ${appId}`);
  const q = url.searchParams;
  const authKey = q.get('auth_key');
  const ts = q.get('auth_timestamp');
  const version = q.get('auth_version');
  const signature = q.get('auth_signature');
  const bodyMd5 = q.get('body_md5');
  if (!authKey || !ts || !version || !signature) {
    throw new HttpError(401, 'Missing auth_key, auth_timestamp, auth_version or auth_signature');
  }
  if (authKey !== app.key || appsByKey.get(authKey) !== app) {
    throw new HttpError(401, 'Unknown auth_key');
  }
  if (version !== '1.0') throw new HttpError(401, 'Unsupported auth_version, expected 1.0');
  if (!/^\d+$/.test(ts)) throw new HttpError(401, 'Invalid auth_timestamp');
  const skew = Math.abs(Date.now() / 1000 - Number(ts));
  if (skew > MAX_TIMESTAMP_SKEW_S) {
    throw new HttpError(401, `Timestamp expired: given ${ts}, now ${Math.floor(Date.now() / 1000)} (more than ${MAX_TIMESTAMP_SKEW_S}s apart)`);
  }
  if (rawBody.length > 0 || bodyMd5 !== null) {
    const md5 = crypto.createHash('md5').update(rawBody).digest('hex');
    if (bodyMd5 === null) throw new HttpError(401, 'Missing body_md5');
    if (!safeEqualHex(bodyMd5, md5)) throw new HttpError(401, 'body_md5 does not match the body');
  }
  const pairs = [];
  for (const [k, v] of q) {
    if (k === 'auth_signature') continue;
    pairs.push([k.toLowerCase(), v]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const queryString = pairs.map(([k, v]) => `${k}=${v}`).join('&');
  const toSign = `${method}\n${url.pathname}\n${queryString}`;
  const expected = crypto.createHmac('sha256', app.secret).update(toSign).digest('hex');
  if (!safeEqualHex(signature, expected)) {
    throw new HttpError(401, `Invalid signature: expected HMAC-SHA256 hex of ${JSON.stringify(toSign)}`);
  }
  return app;
}

function parseJson(raw) {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'Request body is not valid JSON');
  }
}

function checkEvent(ev, channels) {
  if (!ev || typeof ev !== 'object') throw new HttpError(400, 'Event must be an object');
  if (typeof ev.name !== 'string' || ev.name === '') throw new HttpError(400, 'Missing event name');
  if (ev.name.length > MAX_NAME) throw new HttpError(400, `Event name too long (max ${MAX_NAME})`);
  if (typeof ev.data !== 'string') throw new HttpError(400, 'Event data must be a string');
  if (Buffer.byteLength(ev.data, 'utf8') > MAX_DATA_BYTES) {
    throw new HttpError(413, `Event data too large: ${Buffer.byteLength(ev.data, 'utf8')} bytes (max ${MAX_DATA_BYTES})`);
  }
  if (channels.length === 0) throw new HttpError(400, 'Missing channels');
  if (channels.length > MAX_CHANNELS) throw new HttpError(400, `Too many channels (max ${MAX_CHANNELS})`);
  for (const c of channels) {
    if (typeof c !== 'string' || c.length === 0 || c.length > MAX_NAME || !CHANNEL_RE.test(c)) {
      throw new HttpError(400, `Invalid channel name ${JSON.stringify(c)}`);
    }
  }
  if (ev.socket_id !== undefined && (typeof ev.socket_id !== 'string' || !/^\d+\.\d+$/.test(ev.socket_id))) {
    throw new HttpError(400, 'Invalid socket_id');
  }
}

function record(appId, channels, ev) {
  const receivedAt = new Date().toISOString();
  for (const channel of channels) {
    recorded.push({ appId, channel, name: ev.name, data: ev.data, socketId: ev.socket_id ?? null, receivedAt });
    broadcast(appId, channel, ev);
  }
  if (recorded.length > MAX_RECORDED) recorded = recorded.slice(-MAX_RECORDED);
}

function takeFault() {
  if (!fault) return null;
  const status = fault.status;
  if (fault.remaining > 0) {
    fault.remaining -= 1;
    if (fault.remaining === 0) fault = null;
  }
  return status;
}

async function handle(req, res) {
  const url = new URL(req.url, `http://${HOST}:${PORT}`);
  const method = req.method ?? 'GET';
  const p = url.pathname;

  if (p === '/_health' && method === 'GET') {
    return send(res, 200, { ok: true, apps: [...apps.values()].map(({ appId, key }) => ({ appId, key })) });
  }
  if (p === '/_recorded') {
    if (method === 'GET') {
      const channel = url.searchParams.get('channel');
      const name = url.searchParams.get('name');
      const appId = url.searchParams.get('appId');
      return send(
        res,
        200,
        recorded.filter((r) => (channel === null || r.channel === channel) && (name === null || r.name === name) && (appId === null || r.appId === appId)),
      );
    }
    if (method === 'DELETE') {
      recorded = [];
      return send(res, 200, {});
    }
    return send(res, 405, 'Method not allowed');
  }
  if (p === '/_faults') {
    if (method === 'DELETE') {
      fault = null;
      return send(res, 200, {});
    }
    if (method === 'POST') {
      const body = parseJson(await readBody(req));
      const status = Number(body.status);
      const count = body.count === undefined ? 1 : Number(body.count);
      if (!Number.isInteger(status) || status < 100 || status > 599) throw new HttpError(400, 'status must be an HTTP status');
      if (!Number.isInteger(count) || count === 0 || count < -1) throw new HttpError(400, 'count must be a positive integer or -1');
      fault = { status, remaining: count };
      return send(res, 200, { status, count });
    }
    return send(res, 405, 'Method not allowed');
  }

  const m = /^\/apps\/([^/]+)\/(events|batch_events)$/.exec(p);
  if (!m) return send(res, 404, 'Not found');
  if (method !== 'POST') return send(res, 405, 'Method not allowed');
  const appId = decodeURIComponent(m[1]);
  const raw = await readBody(req);
  const app = authenticate(method, url, appId, raw);
  const injected = takeFault();
  if (injected !== null) return send(res, injected, `Injected fault ${injected}`);
  const body = parseJson(raw);

  if (m[2] === 'events') {
    const channels = Array.isArray(body.channels) ? body.channels : typeof body.channel === 'string' ? [body.channel] : [];
    checkEvent(body, channels);
    record(app.appId, channels, body);
    if (typeof body.info === 'string' && body.info.length > 0) {
      const info = {};
      for (const c of channels) info[c] = {};
      return send(res, 200, { channels: info });
    }
    return send(res, 200, {});
  }

  const batch = body.batch;
  if (!Array.isArray(batch)) throw new HttpError(400, 'Missing batch');
  if (batch.length === 0) throw new HttpError(400, 'Empty batch');
  if (batch.length > MAX_BATCH) throw new HttpError(400, `Batch too large: ${batch.length} events (max ${MAX_BATCH})`);
  for (const ev of batch) {
    checkEvent(ev, ev && typeof ev.channel === 'string' ? [ev.channel] : []);
  }
  for (const ev of batch) record(app.appId, [ev.channel], ev);
  if (batch.some((ev) => typeof ev.info === 'string' && ev.info.length > 0)) {
    return send(res, 200, { batch: batch.map(() => ({})) });
  }
  return send(res, 200, {});
}

// --- WebSocket clients (RFC 6455, text frames only; enough for pusher-js) ---

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Each connected client: its app, socket id, subscribed channels and the TCP socket. */
const clients = new Set();
let nextSocketId = 1;

function wsFrame(text, opcode = 0x1) {
  const payload = Buffer.from(text);
  const length = payload.length;
  const header = length < 126 ? Buffer.from([0x80 | opcode, length]) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (length >= 126) {
    header[0] = 0x80 | opcode;
    header[1] = length < 65536 ? 126 : 127;
    if (length < 65536) header.writeUInt16BE(length, 2);
    else header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}

function wsSend(client, event, data, channel) {
  const message = { event, data: typeof data === 'string' ? data : JSON.stringify(data) };
  if (channel !== undefined) message.channel = channel;
  client.socket.write(wsFrame(JSON.stringify(message)));
}

function broadcast(appId, channel, ev) {
  for (const client of clients) {
    if (client.app.appId === appId && client.channels.has(channel) && client.socketId !== ev.socket_id) wsSend(client, ev.name, ev.data, channel);
  }
}

function onClientMessage(client, text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return;
  }
  if (message.event === 'pusher:ping') return wsSend(client, 'pusher:pong', {});
  if (message.event === 'pusher:subscribe') {
    const channel = message.data?.channel;
    if (typeof channel !== 'string' || !CHANNEL_RE.test(channel) || /^(private|presence)-/.test(channel)) {
      return wsSend(client, 'pusher:error', { code: 4009, message: `Only public channels here: ${channel}` });
    }
    client.channels.add(channel);
    return wsSend(client, 'pusher_internal:subscription_succeeded', {}, channel);
  }
  if (message.event === 'pusher:unsubscribe') client.channels.delete(message.data?.channel);
}

/** Reads the client's (masked) frames as they come; answers pings and closes. */
function readFrames(client, chunk) {
  client.buffer = Buffer.concat([client.buffer, chunk]);
  for (;;) {
    const buffer = client.buffer;
    if (buffer.length < 2) return;
    const opcode = buffer[0] & 0x0f;
    let length = buffer[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (buffer.length < 4) return;
      length = buffer.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (buffer.length < 10) return;
      length = Number(buffer.readBigUInt64BE(2));
      offset = 10;
    }
    const masked = (buffer[1] & 0x80) !== 0;
    const end = offset + (masked ? 4 : 0) + length;
    if (buffer.length < end) return;
    const payload = Buffer.from(buffer.subarray(end - length, end));
    if (masked) for (let i = 0; i < length; i++) payload[i] ^= buffer[offset + (i % 4)];
    client.buffer = buffer.subarray(end);
    if (opcode === 0x1) onClientMessage(client, payload.toString('utf8'));
    else if (opcode === 0x9) client.socket.write(wsFrame(payload, 0xa));
    else if (opcode === 0x8) {
      client.socket.end(wsFrame(payload, 0x8));
      return;
    }
  }
}

function upgrade(req, socket) {
  const url = new URL(req.url ?? '/', `http://${HOST}`);
  const key = /^\/app\/([^/]+)$/.exec(url.pathname)?.[1];
  const app = [...apps.values()].find((candidate) => candidate.key === key);
  const accept = req.headers['sec-websocket-key'];
  if (!app || typeof accept !== 'string') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    return;
  }
  const hash = crypto.createHash('sha1').update(accept + WS_GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${hash}\r\n\r\n`);
  const client = { app, socketId: `${nextSocketId++}.${crypto.randomInt(1e6)}`, channels: new Set(), socket, buffer: Buffer.alloc(0) };
  clients.add(client);
  socket.on('data', (chunk) => readFrames(client, chunk));
  socket.on('close', () => clients.delete(client));
  socket.on('error', () => clients.delete(client));
  wsSend(client, 'pusher:connection_established', { socket_id: client.socketId, activity_timeout: 120 });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (err instanceof HttpError) {
      send(res, err.status, err.message);
    } else {
      console.error(err);
      send(res, 500, 'Internal error');
    }
  });
});
server.keepAliveTimeout = 5000;
server.on('upgrade', upgrade);

server.on('error', (err) => {
  console.error(`pusher test server: ${err.message}`);
  process.exit(1);
});
server.listen(PORT, HOST, () => {
  console.log(`${new Date().toISOString()} pusher test server listening on http://${HOST}:${server.address().port}, apps: ${[...apps.keys()].join(', ')}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    console.log(`${new Date().toISOString()} ${sig}: shutting down`);
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    for (const client of clients) client.socket.destroy();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
