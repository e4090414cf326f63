import { test } from 'node:test';
import { requireService } from '../helpers/pombo-harness.ts';
import type { TcpProxy } from '../helpers/tcp-proxy.ts';
import { behindProxy, killLosesNothing, outageLosesNothing, type LossSubject } from './loss-scenarios.ts';
import { dataOf, pusherAvailable, recorded, testApp } from './pusher-recorder.ts';

const needsPusher = requireService(await pusherAvailable(), 'A Pusher-protocol server on 127.0.0.1:6001', 'run scripts/services/pusher.sh');

/** Pombo reaches the Pusher server through a proxy the test cuts (the server keeps what it recorded). */
const subjectThrough = (proxy: TcpProxy): LossSubject => ({
  channel: 'pusher',
  env: { PUSHER_ENABLED: 'true', PUSHER_RETRY_MAX_DELAY_MS: '300', PUSHER_ALLOW_PRIVATE_NETWORKS: 'true' },
  config: { enabled: true, ...testApp(proxy.port), events: ['MESSAGES_UPSERT'] },
  ordered: true,
  async consume(instance) {
    return {
      numbers: async () => dataOf((await recorded(`evolution.${instance}`)).filter((e) => e.name === 'MESSAGES_UPSERT')).map((data) => data.data.n),
      close: async () => undefined,
    };
  },
});

test('a Pusher outage while events flow loses nothing', needsPusher, (t) => behindProxy(6001, (proxy, cut) => outageLosesNothing(t, subjectThrough(proxy), cut)));

test('kill -9 of Pombo while it triggers Pusher events loses nothing', needsPusher, (t) => behindProxy(6001, (proxy, cut) => killLosesNothing(t, subjectThrough(proxy), cut)));
