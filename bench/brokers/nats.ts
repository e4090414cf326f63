import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, createInbox, headers, MsgHdrsImpl, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { BrokerBench, RawPayload } from './broker-bench.ts';

const URI = process.env.BENCH_NATS_URI ?? 'nats://127.0.0.1:4222';
const names = (run: string) => ({ prefix: `bench${run}`, stream: `POMBO_BENCH_${run}` });

/** Each raw publish gets message ids of its own: a warm-up's ids must not be deduplicated away. */
let publishes = 0;

/** The headers Pombo sent with the payload (`instance` is the run's own instance name), for `js.publish()`. */
const headersOf = (payload: RawPayload, instance: string): MsgHdrs => {
  const h = headers();
  for (const [name, value] of Object.entries(payload.headers)) h.set(name, name === 'instance' ? instance : value);
  return h;
};

/**
 * The same headers and `Nats-Msg-Id`, built as Pombo builds them since 3 Dec (`MsgHdrsImpl.fromRecord`,
 * channels/nats/nats-headers.ts) rather than with `set()`, whose checks made most of a publish's garbage:
 * the baseline keeps every technique Pombo's publisher uses.
 */
const recordHeadersOf = (payload: RawPayload, instance: string, msgId: string): MsgHdrs => {
  const record: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(payload.headers)) record[name] = [name === 'instance' ? instance : value];
  record['Nats-Msg-Id'] = [msgId];
  return MsgHdrsImpl.fromRecord(record);
};

type Publish = (nc: NatsConnection, subject: string, instance: string, payloads: readonly RawPayload[], tag: string) => Promise<void>;

/** The JetStream client's API: one `js.publish()` (a request awaiting its PubAck) per message, all in flight at once. */
const withJsPublish: Publish = async (nc, subject, instance, payloads, tag) => {
  const js = jetstream(nc);
  await Promise.all(payloads.map((payload) => js.publish(subject, payload.body, { msgID: `${tag}${payload.id}`, headers: headersOf(payload, instance) })));
};

/** What Pombo's publisher does: plain publishes with a reply subject and the headers built from a record, PubAcks counted on one inbox subscription. */
const withAsyncAcks: Publish = async (nc, subject, instance, payloads, tag) => {
  const inbox = createInbox();
  let left = payloads.length;
  let refused = 0;
  let allAcked = () => {};
  const acked = new Promise<void>((resolve) => (allAcked = resolve));
  const subscription = nc.subscribe(`${inbox}.*`, {
    callback: (_error, message) => {
      if (message.data.length === 0 || !message.string().includes('"stream"')) refused++;
      if (--left === 0) allAcked();
    },
  });
  payloads.forEach((payload, index) => {
    nc.publish(subject, payload.body, { reply: `${inbox}.${index}`, headers: recordHeadersOf(payload, instance, `${tag}${payload.id}`) });
  });
  await acked;
  subscription.unsubscribe();
  if (refused) throw new Error(`${refused} publishes were refused`);
};

/** Creates the run's stream and publishes the payloads under Pombo's subject with `publish`. */
async function publishRaw(publish: Publish, run: string, instance: string, payloads: readonly RawPayload[]): Promise<void> {
  const { prefix, stream } = names(run);
  // The same client options as Pombo's: without noAsyncTraces every request captures a stack.
  const nc = await connect({ servers: URI, noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] }).catch(() => undefined);
    await publish(nc, `${prefix}.${instance}.messages.upsert`, instance, payloads, `raw${publishes++}-`);
  } finally {
    await nc.close();
  }
}

/**
 * NATS JetStream against a raw client using Pombo's own technique (pipelined publishes, PubAcks read
 * on reply subjects): the fair baseline. `js.publish()`, the baseline of the summary until 3 Dec, is
 * measured once per run beside it.
 */
export const natsJetStreamBench: BrokerBench = {
  name: 'NATS JetStream',
  channel: 'nats',
  async available() {
    try {
      const nc = await connect({ servers: URI, timeout: 2000 });
      await jetstreamManager(nc);
      await nc.close();
      return true;
    } catch {
      return false;
    }
  },
  env: (run) => ({
    NATS_ENABLED: 'true',
    NATS_URI: URI,
    NATS_PREFIX_KEY: names(run).prefix,
    NATS_JETSTREAM_ENABLED: 'true',
    NATS_JETSTREAM_STREAM: names(run).stream,
  }),
  publishRaw: (run, instance, payloads) => publishRaw(withAsyncAcks, run, instance, payloads),
  previousBaseline: { name: 'js.publish()', publishRaw: (run, instance, payloads) => publishRaw(withJsPublish, run, instance, payloads) },
  async cleanup(run) {
    const nc = await connect({ servers: URI });
    await (await jetstreamManager(nc)).streams.delete(names(run).stream).catch(() => undefined);
    await nc.close();
  },
};

