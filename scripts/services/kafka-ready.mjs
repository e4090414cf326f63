#!/usr/bin/env node
// Readiness probe for a Kafka broker, using only node built-ins.
// Sends one Metadata v1 request (raw Kafka wire protocol) and succeeds only if
// the broker answers with a broker list that contains at least one broker
// (in KRaft mode a broker is listed only once it is registered and unfenced,
// i.e. ready to take produce/fetch requests).
//
// usage: node kafka-ready.mjs [host] [port]    exit 0 = ready, 1 = not ready
import net from 'node:net';

const host = process.argv[2] ?? '127.0.0.1';
const port = Number(process.argv[3] ?? 9092);
const timeoutMs = Number(process.env.KAFKA_READY_TIMEOUT_MS ?? 3000);

function metadataRequest() {
  const clientId = Buffer.from('pombo-ready-probe');
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length + 4);
  let o = 0;
  o = body.writeInt16BE(3, o); // api_key: Metadata
  o = body.writeInt16BE(1, o); // api_version 1
  o = body.writeInt32BE(7, o); // correlation_id
  o = body.writeInt16BE(clientId.length, o);
  o += clientId.copy(body, o);
  body.writeInt32BE(0, o); // topics: empty array (we only want brokers)
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

function parse(buf) {
  let o = 0;
  const correlationId = buf.readInt32BE(o); o += 4;
  if (correlationId !== 7) throw new Error(`unexpected correlation id ${correlationId}`);
  const n = buf.readInt32BE(o); o += 4;
  const brokers = [];
  for (let i = 0; i < n; i++) {
    const nodeId = buf.readInt32BE(o); o += 4;
    const hl = buf.readInt16BE(o); o += 2;
    const h = buf.toString('utf8', o, o + hl); o += hl;
    const p = buf.readInt32BE(o); o += 4;
    const rl = buf.readInt16BE(o); o += 2;
    if (rl > 0) o += rl;
    brokers.push({ nodeId, host: h, port: p });
  }
  const controllerId = buf.readInt32BE(o);
  return { brokers, controllerId };
}

const sock = net.connect({ host, port });
let chunks = Buffer.alloc(0);
const fail = (msg) => {
  process.stderr.write(`kafka not ready at ${host}:${port}: ${msg}\n`);
  sock.destroy();
  process.exit(1);
};
const timer = setTimeout(() => fail(`no answer within ${timeoutMs}ms`), timeoutMs);
sock.on('connect', () => sock.write(metadataRequest()));
sock.on('error', (e) => fail(e.code ?? e.message));
sock.on('close', () => fail('connection closed before a full answer'));
sock.on('data', (d) => {
  chunks = Buffer.concat([chunks, d]);
  if (chunks.length < 4) return;
  const size = chunks.readInt32BE(0);
  if (chunks.length < 4 + size) return;
  clearTimeout(timer);
  try {
    const { brokers, controllerId } = parse(chunks.subarray(4, 4 + size));
    if (brokers.length === 0) fail('metadata lists no broker yet');
    if (process.env.KAFKA_READY_VERBOSE) {
      process.stdout.write(JSON.stringify({ brokers, controllerId }) + '\n');
    }
    sock.removeAllListeners('close');
    sock.destroy();
    process.exit(0);
  } catch (e) {
    fail(`bad metadata answer: ${e.message}`);
  }
});
