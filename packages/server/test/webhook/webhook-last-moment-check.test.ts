import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutboundAddressPolicy } from '../../src/net/outbound-address-policy.ts';
import { WEBHOOK_ADDRESSES } from '../../src/channels/webhook/webhook-config.ts';
import { WebhookSender } from '../../src/channels/webhook/webhook-sender.ts';
import { startReceiver } from './http-receiver.ts';

/**
 * Cluster mode: a worker checks that its node's lease is surely its own before it sends, but a request
 * may wait after that (for a connection, or in a process paused between the check and the write) and
 * leave after the lease moved, behind the new holder's deliveries. The sender asks again right before
 * the request is written on its connection.
 */
test('a webhook request is asked again once its connection is ready: withdrawn if the answer changed meanwhile, sent otherwise', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const port = Number(new URL(receiver.url).port);
  let connectable: () => void = () => {};
  const connection = new Promise<void>((resolve) => (connectable = resolve));
  const policy = new OutboundAddressPolicy({
    ...WEBHOOK_ADDRESSES,
    allowPrivateNetworks: true,
    serverUrl: 'https://pombo.example.com',
    listenPort: () => undefined,
    // The name resolves only when the test says so: the request waits for its connection meanwhile.
    resolve: async () => {
      await connection;
      return [{ address: '127.0.0.1' }];
    },
  });
  const sender = new WebhookSender({ timeoutMs: 5000, nonRetryable: new Set(), policy });
  t.after(() => sender.close());
  const endpoint = (path: string) => ({ origin: `http://receiver.test:${port}`, path });

  let leaseSure = true;
  let asked = 0;
  const waiting = sender.post(endpoint('/late'), { 'content-type': 'application/json' }, '{"n":1}', () => (asked++, leaseSure));
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(asked, 0, 'not asked while the connection is not ready');
  leaseSure = false;
  connectable();
  const withdrawn = await waiting;
  assert.equal(withdrawn.kind, 'retry');
  assert.match(withdrawn.kind === 'retry' ? withdrawn.error : '', /^not sent: /);
  assert.equal(asked, 1);
  assert.equal(receiver.requests.length, 0, 'the request never left');

  leaseSure = true;
  const sent = await sender.post(endpoint('/now'), { 'content-type': 'application/json' }, '{"n":2}', () => leaseSure);
  assert.equal(sent.kind, 'delivered');
  const plain = await sender.post(endpoint('/plain'), { 'content-type': 'application/json' }, '{"n":3}');
  assert.equal(plain.kind, 'delivered', 'a request without the check is sent as before');
  assert.deepEqual(receiver.requests.map((request) => request.url), ['/now', '/plain']);
});
