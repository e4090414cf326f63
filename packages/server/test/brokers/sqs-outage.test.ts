import { test } from 'node:test';
import { requireService } from '../helpers/pombo-harness.ts';
import type { TcpProxy } from '../helpers/tcp-proxy.ts';
import { behindProxy, killLosesNothing, outageLosesNothing, type LossSubject } from './loss-scenarios.ts';
import { followQueue, sqsAvailable, sqsEnv } from './sqs-queue-reader.ts';

const needsSqs = requireService(await sqsAvailable(), 'An SQS-compatible server on 127.0.0.1:9324', 'run scripts/services/sqs.sh');

/** Pombo reaches ElasticMQ through a proxy the test cuts: the queues (in memory) survive the "outage". */
const subjectThrough = (proxy: TcpProxy): LossSubject => ({
  channel: 'sqs',
  env: sqsEnv(`http://127.0.0.1:${proxy.port}`),
  config: { enabled: true, events: ['MESSAGES_UPSERT'] },
  // A standard queue keeps no order (SQS's own semantics); sqs-fifo-order.test.ts covers FIFO queues.
  ordered: false,
  async consume(instance) {
    const follower = await followQueue(`evolution-${instance}-messages-upsert`);
    return { numbers: async () => follower.received.map((r) => r.body.data.n), close: () => follower.close() };
  },
});

test('an SQS outage while events flow loses nothing', needsSqs, (t) => behindProxy(9324, (proxy, cut) => outageLosesNothing(t, subjectThrough(proxy), cut)));

test('kill -9 of Pombo while it publishes to SQS loses nothing', needsSqs, (t) => behindProxy(9324, (proxy, cut) => killLosesNothing(t, subjectThrough(proxy), cut)));
