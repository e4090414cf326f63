import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import type { BrokerBench } from './broker-bench.ts';

const URI = process.env.BENCH_NATS_URI ?? 'nats://127.0.0.1:4222';
const names = (run: string) => ({ prefix: `bench${run}`, stream: `POMBO_BENCH_${run}` });

/** NATS JetStream: publishes acknowledged by the stream Pombo ensures, with Nats-Msg-Id. */
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
  async publishRaw(run, instance, payloads) {
    const { prefix, stream } = names(run);
    const subject = `${prefix}.${instance}.messages.upsert`;
    // The same client options as Pombo's: without noAsyncTraces every request captures a stack.
    const nc = await connect({ servers: URI, noAsyncTraces: true });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] }).catch(() => undefined);
      const js = jetstream(nc);
      await Promise.all(
        payloads.map((payload) => {
          const h = headers();
          h.set('event-id', payload.id);
          h.set('event', payload.event);
          h.set('instance', instance);
          return js.publish(subject, payload.body, { msgID: `raw-${payload.id}`, headers: h });
        }),
      );
    } finally {
      await nc.close();
    }
  },
  async cleanup(run) {
    const nc = await connect({ servers: URI });
    await (await jetstreamManager(nc)).streams.delete(names(run).stream).catch(() => undefined);
    await nc.close();
  },
};
