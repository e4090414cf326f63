import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { pino } from 'pino';
import type { BrokerMessage } from '../../src/channels/broker/broker-channel.ts';
import { RabbitMqDriver } from '../../src/channels/rabbitmq/rabbitmq-driver.ts';
import { leaseContext } from '../../src/delivery/destination.ts';
import type { StoredEvent } from '../../src/store/types.ts';
import { eventually } from '../helpers/pombo-harness.ts';
import { consume, RABBITMQ_HOST, RABBITMQ_PORT, rabbitmqRequired, rabbitNames } from './rabbitmq-helpers.ts';

/**
 * The RabbitMQ driver against the real broker behind a TCP proxy that breaks its first connection at
 * one exact point of the AMQP handshake (an AMQP method frame: type 1, channel, size, class, method);
 * the connections after it pass through.
 */
type Fault = (frame: { fromClient: boolean; classId: number; methodId: number }) => 'reset' | 'close-after' | undefined;

/** A server's Connection.Close (320 CONNECTION_FORCED), as a broker that shuts down sends it. */
function connectionClose(): Buffer {
  const text = Buffer.from('CONNECTION_FORCED - broker forced connection closure');
  const payload = Buffer.alloc(4 + 2 + 1 + text.length + 4);
  let at = payload.writeUInt16BE(10, 0);
  at = payload.writeUInt16BE(50, at);
  at = payload.writeUInt16BE(320, at);
  at = payload.writeUInt8(text.length, at);
  at += text.copy(payload, at);
  payload.writeUInt32BE(0, at);
  const head = Buffer.alloc(7);
  head.writeUInt8(1, 0);
  head.writeUInt16BE(0, 1);
  head.writeUInt32BE(payload.length, 3);
  return Buffer.concat([head, payload, Buffer.from([0xce])]);
}

/** The methods in a chunk (frames may share a chunk: every header in it is looked at). */
function* methods(chunk: Buffer): Generator<{ classId: number; methodId: number }> {
  for (let i = 0; i + 11 <= chunk.length; i++) {
    if (chunk[i] === 1) yield { classId: chunk.readUInt16BE(i + 7), methodId: chunk.readUInt16BE(i + 9) };
  }
}

async function faultyProxy(fault: Fault): Promise<{ port: number; connections: () => number; close: () => void }> {
  let connections = 0;
  const server = net.createServer((client) => {
    const first = ++connections === 1;
    const upstream = net.connect(RABBITMQ_PORT, RABBITMQ_HOST);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const relay = (fromClient: boolean) => (chunk: Buffer) => {
      const to = fromClient ? upstream : client;
      const action = first ? [...methods(chunk)].map((method) => fault({ fromClient, ...method })).find(Boolean) : undefined;
      if (action === 'reset') {
        client.resetAndDestroy();
        upstream.destroy();
      } else if (action === 'close-after') {
        to.write(Buffer.concat([chunk, connectionClose()]));
        setTimeout(() => (client.end(), upstream.destroy()), 100);
      } else to.write(chunk);
    };
    client.on('data', relay(true));
    upstream.on('data', relay(false));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections, close: () => server.close() };
}

const message = (id: string): BrokerMessage => ({
  event: { pos: 1, id, instanceId: 'i1', instance: 'faults', seq: 1, event: 'MESSAGES_UPSERT', data: {}, dataJson: '{}', sender: null, createdAt: new Date().toISOString() } as unknown as StoredEvent,
  body: '{}',
  scope: 'instance',
});

/** Publishes through the proxy until a message is confirmed; answers how many connections it took. */
async function publishesThrough(fault: Fault): Promise<number> {
  const proxy = await faultyProxy(fault);
  const { exchange, prefix } = rabbitNames();
  const target = `127.0.0.1:${proxy.port}`;
  const driver = new RabbitMqDriver(
    { uri: `amqp://guest:guest@${target}`, target, exchange, prefix, declareQueues: false, queueType: 'classic', queueMaxLength: undefined, publishTimeoutMs: 2000 },
    pino({ level: 'silent' }),
  );
  try {
    driver.start();
    let sent = 0;
    await eventually(async () => (await driver.publish([message(`e${sent++}`)]))[0]?.kind === 'delivered', 'a message confirmed', 15_000, 200);
    assert.equal(driver.connection().state, 'connected');
    return proxy.connections();
  } finally {
    await driver.close();
    proxy.close();
  }
}

describe('RabbitMQ connection faults', async () => {
  const service = await rabbitmqRequired();
  test('the connection reset while the publishing channel opens: Pombo does not crash, connects again and publishes', service, async () => {
    // Channel.Open (class 20, method 10) from the client: the reset comes while the driver awaits its channel.
    const connections = await publishesThrough(({ fromClient, classId, methodId }) => (fromClient && classId === 20 && methodId === 10 ? 'reset' : undefined));
    assert.ok(connections >= 2, 'a second connection');
  });

  test('a broker that closes the connection as it answers the exchange declaration: the dead connection is not taken, a new one is', service, async () => {
    // Exchange.DeclareOk (class 40, method 11) from the server, with Connection.Close in the same chunk.
    const connections = await publishesThrough(({ fromClient, classId, methodId }) => (!fromClient && classId === 40 && methodId === 11 ? 'close-after' : undefined));
    assert.ok(connections >= 2, 'a second connection');
  });

  test('a batch that waited (here for the connection) asks the lease again before it is written: once it may have moved, nothing of it is published', service, async () => {
    const { exchange, prefix } = rabbitNames();
    const consumer = await consume(exchange, '#');
    const target = `${RABBITMQ_HOST}:${RABBITMQ_PORT}`;
    const driver = new RabbitMqDriver(
      { uri: `amqp://guest:guest@${target}`, target, exchange, prefix, declareQueues: false, queueType: 'classic', queueMaxLength: undefined, publishTimeoutMs: 2000 },
      pino({ level: 'silent' }),
    );
    try {
      let leased = true;
      const sending = leaseContext(() => (leased ? Infinity : 0), new AbortController().signal);
      // The worker checked the lease and handed the batch over; the node loses it while the driver connects.
      const publishing = driver.publish([message('withdrawn')], undefined, sending);
      leased = false;
      const [outcome] = await publishing;
      assert.equal(outcome?.kind, 'retry');
      assert.match(outcome?.kind === 'retry' ? outcome.error : '', /not sent: this node can no longer be sure/);
      leased = true;
      assert.equal((await driver.publish([message('sent')], undefined, sending))[0]?.kind, 'delivered');
      await eventually(() => consumer.received.length >= 1, 'the message sent with the lease');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(consumer.received.map((received) => received.message.properties.messageId), ['sent'], 'the withdrawn one never reached RabbitMQ');
    } finally {
      await driver.close();
      await consumer.close();
    }
  });
});
