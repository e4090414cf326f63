import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, spawnPombo, type ChildPombo } from '../helpers/child-pombo.ts';
import { Tally } from '../helpers/event-flow.ts';
import { eventually, uniqueName } from '../helpers/pombo-harness.ts';
import { POSTGRES_SERVER, postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { startReceiver } from '../webhook/http-receiver.ts';
import { consume, RABBITMQ_URI, rabbitmqRequired, rabbitNames, withRabbit } from '../brokers/rabbitmq-helpers.ts';
import { chatOf, startFailoverFlow, type FailoverFlow } from './failover-flow.ts';
import { startFailoverSubscriber, type FailoverSubscriber } from './failover-subscriber.ts';

const { schema, service } = await postgresTestSchema();
const rabbit = await rabbitmqRequired();
const TTL_MS = 1500;
const INSTANCES = 6;
const CHATS = 4;
const TOTAL = 20_000;
/** Webhook requests in flight per instance (one event each). */
const WEBHOOK_MAX_IN_FLIGHT = 8;
/** Unacknowledged events per realtime subscriber. */
const REALTIME_MAX_IN_FLIGHT = 100;

interface ClusterView {
  nodes: Array<{ id: string; alive: boolean; leases: number }>;
  leases: Array<{ destination: string; nodeId: string | null; epoch: number; expiresAt: string }>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test(
  'cluster of 3 processes: 20,000 events to webhooks, RabbitMQ and realtime subscribers through a cut from PostgreSQL, a pause and a kill -9',
  { skip: 'skip' in service ? service.skip : 'skip' in rabbit ? rabbit.skip : false, timeout: 180_000 },
  async (t) => {
    const apiKey = `cluster-${randomBytes(8).toString('hex')}`;
    const receiver = await startReceiver();
    const names = rabbitNames();
    const consumer = await consume(names.exchange, `${names.prefix}.#`);
    const proxy = await startTcpProxy({ port: 5432 });
    const dirs: string[] = [];
    const nodeOfUrl = new Map<string, string>();
    const node = async (id: string, database: string): Promise<ChildPombo> => {
      const dir = mkdtempSync(join(tmpdir(), `pombo-cluster-${id}-`));
      dirs.push(dir);
      const port = await freePort();
      // The envelope's server_url (default http://localhost:<port>) tells which node sent a message.
      nodeOfUrl.set(`http://localhost:${port}`, id);
      return spawnPombo(
        {
          DATA_DIR: dir,
          AUTHENTICATION_API_KEY: apiKey,
          DATABASE_PROVIDER: 'postgresql',
          DATABASE_CONNECTION_URI: `${database}?schema=${schema}`,
          CLUSTER_ENABLED: 'true',
          CLUSTER_NODE_ID: id,
          CLUSTER_LEASE_TTL_MS: String(TTL_MS),
          RABBITMQ_ENABLED: 'true',
          RABBITMQ_URI,
          RABBITMQ_EXCHANGE_NAME: names.exchange,
          RABBITMQ_PREFIX_KEY: names.prefix,
          // The test's own queue, bound before the first event, gets every message; Pombo's would pile up.
          RABBITMQ_DECLARE_QUEUES: 'false',
          WEBHOOK_MAX_IN_FLIGHT: String(WEBHOOK_MAX_IN_FLIGHT),
          REALTIME_MAX_IN_FLIGHT: String(REALTIME_MAX_IN_FLIGHT),
          LOG_LEVEL: 'warn',
        },
        port,
      );
    };
    const nodes: ChildPombo[] = [];
    const flows: FailoverFlow[] = [];
    const subscribers: FailoverSubscriber[] = [];
    try {
      // Started one after another: the first migrates the schema.
      nodes.push(await node('node-a', POSTGRES_SERVER));
      nodes.push(await node('node-b', POSTGRES_SERVER));
      nodes.push(await node('node-c', `postgresql://postgres@127.0.0.1:${proxy.port}/test`));
      const [a, b, c] = nodes as [ChildPombo, ChildPombo, ChildPombo];
      const urls = nodes.map((child) => child.url);
      const view = async (on: ChildPombo): Promise<ClusterView> =>
        (await (await fetch(`${on.url}/cluster`, { headers: { apikey: apiKey }, signal: AbortSignal.timeout(3000) })).json()) as ClusterView;
      const holders = async (on: ChildPombo) => {
        const { nodes: listed, leases } = await view(on);
        const alive = new Set(listed.filter((entry) => entry.alive).map((entry) => entry.id));
        const counts = new Map<string, number>();
        for (const lease of leases) if (lease.nodeId && alive.has(lease.nodeId) && Date.parse(lease.expiresAt) > Date.now() - 200) counts.set(lease.nodeId, (counts.get(lease.nodeId) ?? 0) + 1);
        return counts;
      };
      const DESTINATIONS = INSTANCES * 2;
      /** Waits until the leases are spread over exactly `ids` (each its fair share); returns how long it took. */
      const spreadOver = async (ids: string[], on: ChildPombo, what: string, within: number) => {
        const started = Date.now();
        await eventually(async () => {
          const counts = await holders(on);
          const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
          return total === DESTINATIONS && ids.every((id) => (counts.get(id) ?? 0) >= Math.floor(DESTINATIONS / ids.length)) && [...counts.keys()].every((id) => ids.includes(id));
        }, what, within, 50);
        return Date.now() - started;
      };
      const fencedWrites = async (on: ChildPombo, id: string): Promise<number> => {
        const text = await (await fetch(`${on.url}/metrics`, { headers: { apikey: apiKey } })).text();
        return Number(new RegExp(`pombo_cluster_fenced_writes_total\\{node="${id}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
      };
      /** Webhook requests and RabbitMQ messages a node sent that arrived between two moments. */
      const sentBy = (id: string, from: number, to: number) =>
        [...receiver.requests.map((request) => ({ at: request.at, body: request.json })), ...consumer.received].filter(
          (message) => message.at > from && message.at < to && nodeOfUrl.get(message.body?.server_url) === id,
        ).length;

      const instances: Array<{ name: string; id: string }> = [];
      for (let i = 0; i < INSTANCES; i++) {
        const name = uniqueName('mixed');
        const created = await fetch(`${a.url}/instance/create`, {
          method: 'POST',
          headers: { apikey: apiKey, 'content-type': 'application/json' },
          body: JSON.stringify({
            instanceName: name,
            integration: 'INGEST',
            webhook: { url: `${receiver.url}/hook/${name}`, ordering: 'chat' },
            rabbitmq: { enabled: true, events: ['MESSAGES_UPSERT'] },
          }),
        });
        const body = await created.text();
        assert.equal(created.status, 201, body);
        instances.push({ name, id: (JSON.parse(body) as { instance: { instanceId: string } }).instance.instanceId });
      }
      await spreadOver(['node-a', 'node-b', 'node-c'], a, 'twelve leases spread over three nodes', 15_000);
      for (const child of [b, c]) {
        await eventually(async () => (await fetch(`${child.url}/instance/fetchInstances`, { headers: { apikey: apiKey } })).ok, `${child.url} serves the API`);
      }

      // One durable subscriber per instance, first on the nodes in turn; it exists (at the log's head) once connected.
      instances.forEach(({ name }, index) =>
        subscribers.push(startFailoverSubscriber({ urls, first: index % 3, apiKey, instance: name, subscriber: 'worker', pingEveryMs: 500 })),
      );
      await Promise.all(subscribers.map((subscriber) => subscriber.opened));
      const started = Date.now();
      instances.forEach(({ name }, index) =>
        flows.push(
          startFailoverFlow({
            urls,
            first: index % 3,
            apiKey,
            instance: name,
            total: Math.floor(TOTAL / INSTANCES) + (index < TOTAL % INSTANCES ? 1 : 0),
            batch: 20,
            eventsPerSecond: 1000 / INSTANCES,
            chats: CHATS,
            timeoutMs: 2000,
          }),
        ),
      );
      await sleep(2000);

      // 1. Node C cut from PostgreSQL (a partition: nothing gets through, nothing is closed), past its TTL.
      proxy.freeze();
      const cutAt = Date.now();
      const afterCut = await spreadOver(['node-a', 'node-b'], a, 'node C’s leases taken by A and B while C is cut off', 2 * TTL_MS + 2000);
      const movedAt = Date.now();
      t.diagnostic(`node C cut from PostgreSQL: its leases moved in ${afterCut} ms (TTL ${TTL_MS} ms)`);
      assert.ok(afterCut <= 2 * TTL_MS + 500, `leases moved within two TTLs (+ the poll): ${afterCut} ms`);
      await sleep(TTL_MS);
      const restoredAt = Date.now();
      proxy.restore();
      assert.equal(sentBy('node-c', movedAt, restoredAt), 0, 'node C sent nothing once its leases had moved');
      const afterRestore = await spreadOver(['node-a', 'node-b', 'node-c'], a, 'node C back to its share once the network is back', 6 * TTL_MS);
      t.diagnostic(`node C reconnected: back to its share in ${afterRestore} ms; its writes refused by the epoch: ${await fencedWrites(c, 'node-c')}`);

      // 2. Node A paused past its TTL, then continued.
      const fencedBeforeStop = await fencedWrites(a, 'node-a');
      a.child.kill('SIGSTOP');
      const stopAt = Date.now();
      const afterStop = await spreadOver(['node-b', 'node-c'], b, 'node A’s leases taken by B and C while A is stopped', 2 * TTL_MS + 2000);
      t.diagnostic(`SIGSTOP of node A: its leases moved in ${afterStop} ms`);
      assert.ok(afterStop <= 2 * TTL_MS + 500, `leases moved within two TTLs (+ the poll): ${afterStop} ms`);
      a.child.kill('SIGCONT');
      const contAt = Date.now();
      const afterCont = await spreadOver(['node-a', 'node-b', 'node-c'], b, 'node A back to its share after SIGCONT', 6 * TTL_MS);
      const fencedAfterStop = (await fencedWrites(a, 'node-a')) - fencedBeforeStop;
      t.diagnostic(`SIGCONT of node A: back to its share in ${afterCont} ms; its late writes refused by the epoch: ${fencedAfterStop}`);
      assert.ok(fencedAfterStop > 0, 'the paused node’s late cursor or delivery writes were refused by the epoch (pombo_cluster_fenced_writes_total)');

      // 3. Node B killed.
      const killAt = Date.now();
      await b.kill();
      const afterKill = await spreadOver(['node-a', 'node-c'], a, 'node B’s leases taken by A and C', 2 * TTL_MS + 2000);
      t.diagnostic(`kill -9 of node B: its leases moved in ${afterKill} ms`);
      assert.ok(afterKill <= 2 * TTL_MS + 500, `leases moved within two TTLs (+ the poll): ${afterKill} ms`);

      await Promise.all(flows.map((flow) => flow.done));
      const ingestMs = Date.now() - started;
      assert.equal(a.child.exitCode ?? a.child.signalCode, null, 'node A still runs');
      assert.equal(c.child.exitCode ?? c.child.signalCode, null, 'node C still runs');
      const acknowledged = flows.reduce((sum, flow) => sum + flow.acknowledged, 0);
      assert.equal(acknowledged, TOTAL, 'every event acknowledged (a failed request goes again to another node)');
      t.diagnostic(`${acknowledged} events acknowledged in ${ingestMs} ms, ${flows.reduce((sum, flow) => sum + flow.retries, 0)} requests posted again to another node`);

      // Every destination ends with every event.
      const webhookTallies = new Map<string, Tally>();
      const rabbitTallies = new Map<string, Tally>();
      const expected = (index: number) => Array.from({ length: (flows[index] as FailoverFlow).acknowledged }, (_, n) => n);
      const tallyWebhooks = () => {
        webhookTallies.clear();
        for (const request of receiver.requests) {
          const n = request.json?.data?.n;
          if (typeof n !== 'number') continue;
          const key = `${request.url.split('/').at(-1)}/${request.json.data.key.remoteJid}`;
          const tally = webhookTallies.get(key) ?? new Tally();
          tally.add(n);
          webhookTallies.set(key, tally);
        }
      };
      const tallyRabbit = () => {
        rabbitTallies.clear();
        for (const message of consumer.received) {
          const n = message.body?.data?.n;
          if (typeof n !== 'number') continue;
          const tally = rabbitTallies.get(message.body.instance) ?? new Tally();
          tally.add(n);
          rabbitTallies.set(message.body.instance, tally);
        }
      };
      const missingWebhooks = () => {
        tallyWebhooks();
        return instances.reduce((sum, { name }, index) => {
          const all = expected(index);
          let missing = 0;
          for (let chat = 0; chat < CHATS; chat++) {
            const tally = webhookTallies.get(`${name}/${chatOf(chat, CHATS)}`);
            missing += all.filter((n) => n % CHATS === chat && !tally?.has(n)).length;
          }
          return sum + missing;
        }, 0);
      };
      const missingRabbit = () => {
        tallyRabbit();
        return instances.reduce((sum, { name }, index) => sum + (rabbitTallies.get(name)?.missing(expected(index)).length ?? expected(index).length), 0);
      };
      const missingRealtime = () => instances.reduce((sum, _, index) => sum + (subscribers[index] as FailoverSubscriber).tally.missing(expected(index)).length, 0);
      await eventually(() => missingWebhooks() === 0, 'every event at the webhook receiver', 30_000, 200);
      await eventually(() => missingRabbit() === 0, 'every event in RabbitMQ', 30_000, 200);
      await eventually(() => missingRealtime() === 0, 'every event at the realtime subscribers', 30_000, 200);

      const { leases } = await view(a);
      const report: string[] = [];
      const orderFailures: string[] = [];
      for (const [index, { name, id }] of instances.entries()) {
        const webhookEpoch = leases.find((lease) => lease.destination === `webhook:${id}`)?.epoch ?? 0;
        const rabbitEpoch = leases.find((lease) => lease.destination === `rabbitmq:${id}`)?.epoch ?? 0;
        let webhookDuplicates = 0;
        for (let chat = 0; chat < CHATS; chat++) {
          const tally = webhookTallies.get(`${name}/${chatOf(chat, CHATS)}`) as Tally;
          webhookDuplicates += tally.duplicates;
          if (!tally.lastCopiesInOrder) {
            const key = `${name}/${chatOf(chat, CHATS)}`;
            const arrivals = receiver.requests.filter((request) => `${request.url.split('/').at(-1)}/${request.json?.data?.key?.remoteJid}` === key).map((request) => ({ n: request.json.data.n as number, at: request.at, node: nodeOfUrl.get(request.json.server_url) }));
            const last = new Map<number, number>();
            arrivals.forEach((arrival, i) => last.set(arrival.n, i));
            const sorted = [...last.keys()].sort((x, y) => x - y);
            for (let i = 1; i < sorted.length; i++) {
              if ((last.get(sorted[i] as number) as number) < (last.get(sorted[i - 1] as number) as number)) {
                const lo = sorted[i - 1] as number;
                const hi = sorted[i] as number;
                t.diagnostic(`violation: ${lo} last at ${last.get(lo)}, ${hi} last at ${last.get(hi)}`);
                const from = Math.max(0, Math.min(last.get(hi) as number, last.get(lo) as number) - 8);
                for (const [j, arrival] of arrivals.slice(from, from + 30).entries()) t.diagnostic(`  #${from + j} n=${arrival.n} ${arrival.node} at ${arrival.at - started}`);
                break;
              }
            }
            t.diagnostic(`phases: cut ${cutAt - started} moved ${movedAt - started} restored ${restoredAt - started} stop ${stopAt - started} cont ${contAt - started} kill ${killAt - started}`);
          }
          if (!tally.lastCopiesInOrder) orderFailures.push(`${name}, chat ${chat}`);
        }
        const rabbitTally = rabbitTallies.get(name) as Tally;
        assert.ok(rabbitTally.lastCopiesInOrder, `${name}: RabbitMQ's last copies arrive in the instance's order`);
        const subscriber = subscribers[index] as FailoverSubscriber;
        assert.ok(subscriber.tally.lastCopiesInOrder, `${name}: the realtime subscriber's last copies arrive in the instance's order`);
        for (const connection of subscriber.connections) {
          assert.ok(connection.numbers.every((n, at) => at === 0 || n > (connection.numbers[at - 1] as number)), `${name}: each realtime connection receives the log in order`);
        }
        report.push(
          `${name}: webhook ${webhookDuplicates} dup (epoch ${webhookEpoch}), rabbitmq ${rabbitTally.duplicates} dup (epoch ${rabbitEpoch}), realtime ${subscriber.tally.duplicates} dup over ${subscriber.connections.length} connections (${subscriber.connections.map((connection) => `${nodeOfUrl.get(connection.url.replace('127.0.0.1', 'localhost'))}:${connection.numbers.length}:${connection.ended ?? 'open'}`).join(' ')})`,
        );
      }
      for (const line of report) t.diagnostic(line);
      assert.deepEqual(orderFailures, [], 'the webhook’s last copies arrive in each chat’s order');
    } finally {
      const keep = process.env.POMBO_CLUSTER_LOGS;
      if (keep) nodes.forEach((child, index) => writeFileSync(join(keep, `node-${'abc'[index]}.log`), child.stdout()));
      await Promise.all(subscribers.map((subscriber) => subscriber.close()));
      await Promise.all(flows.map((flow) => flow.stop()));
      for (const child of nodes) {
        child.child.kill('SIGCONT');
        await child.kill();
      }
      await proxy.close();
      await receiver.close();
      await consumer.close();
      await withRabbit(async (connection) => (await connection.createChannel()).deleteExchange(names.exchange));
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  },
);
