import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { POSTGRES_SERVER, postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { clusterNodeEnv, fencedWritesIn } from './cluster-processes.ts';
import { connect, ingest, type RealtimeClient } from '../realtime/ws-client.ts';

/**
 * Durable realtime subscribers in cluster mode (docs/cluster.md, "Clients on any node"): two Pombos
 * in this process on one PostgreSQL schema stand for two nodes. A subscriber is served where its
 * newest connection attached; the node that served it before closes its connections with 4307.
 */
const { uri, schema, service } = await postgresTestSchema();
const apiKey = `cluster-${randomBytes(8).toString('hex')}`;
const nodes: Harness[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.close()));
});

async function startNode(id: string, ttlMs: number, env: Record<string, string> = {}): Promise<Harness> {
  const node = await startPombo({ ...clusterNodeEnv({ apiKey, uri, id, ttlMs }), ...env });
  nodes.push(node);
  return node;
}

const ids = (client: RealtimeClient): string[] => client.frames.map((frame) => frame.id);

/** A connection of the durable subscriber `orders`, for ingested messages only. */
const subscribe = (node: Harness, instance: string, autoAck: boolean) =>
  connect(node.url, { query: { instance_id: instance, subscriber: 'orders', events: 'MESSAGES_UPSERT' }, headers: { apikey: apiKey }, autoAck });

const connectionsOf = async (node: Harness, instance: string, subscriber = 'orders'): Promise<number> =>
  ((await node.api('GET', `/realtime/find/${instance}`)).body?.subscribers ?? []).find((entry: { subscriber: string }) => entry.subscriber === subscriber)?.connections
    .length ?? 0;

/** The subscriber's floor as stored, and the position of an event. */
async function floorOf(node: Harness, instanceId: string): Promise<number | undefined> {
  return node.pombo.context.store.getCursor(`realtime:${instanceId}:orders`);
}
async function positionOf(node: Harness, eventId: string): Promise<number> {
  const [event] = await node.pombo.context.store.getByIds([eventId]);
  return event?.pos ?? -1;
}

/** Takes the subscriber's lease for another node straight in the database, as a takeover whose notification this node missed. */
async function takeOverUnheard(subscriber: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_SERVER });
  await client.connect();
  try {
    const { rowCount } = await client.query(`UPDATE "${schema}".pombo_subscriber_leases SET node_id = 'node-elsewhere', epoch = epoch + 1 WHERE subscriber = $1`, [subscriber]);
    assert.equal(rowCount, 1, 'the subscriber has a lease row');
  } finally {
    await client.end();
  }
}

describe('durable realtime subscribers in a cluster', { skip: 'skip' in service ? service.skip : false }, () => {
  test('a subscriber attached on node 1 then on node 2: node 1 closes its connection with 4307, node 2 resumes from the floor and loses nothing', async () => {
    const one = await startNode('node-1', 1500);
    const two = await startNode('node-2', 1500);
    const name = uniqueName('takeover');
    const { id } = await one.sandbox(name);
    await eventually(async () => (await two.api('GET', `/realtime/find/${name}`)).status === 200, 'node 2 knows the instance');

    const first = await subscribe(one, name, false);
    await eventually(async () => (await connectionsOf(one, name)) === 1, 'attached on node 1');
    const before = await ingest(one, name, 6);
    await first.waitFrames(6);
    assert.deepEqual(ids(first), before);
    for (const eventId of before.slice(0, 3)) first.ack(eventId);
    const acked = await positionOf(one, before[2] as string);
    await eventually(async () => (await floorOf(one, id)) === acked, 'node 1 wrote the floor past the 3 acknowledged events');

    // The client reconnects through a load balancer and lands on node 2 while node 1 still has its socket.
    const second = await subscribe(two, name, true);
    const closed = await Promise.race([first.closed, new Promise<undefined>((resolve) => setTimeout(resolve, 5000, undefined))]);
    assert.equal(closed?.code, 4307, 'node 1 closes its connection of the subscriber with 4307');
    assert.match(closed.reason, /another node/);
    await second.waitFrames(3);
    assert.deepEqual(ids(second), before.slice(3), 'node 2 resumes from the floor: the 3 unacknowledged events come again');
    // An ack that reaches node 1 now is lost with its connection; the floor node 2 writes decides.
    assert.equal(await connectionsOf(one, name), 0, 'node 1 serves the subscriber no more');

    // Events appended on node 1 reach the subscriber through node 2, from the shared log.
    const later = await ingest(one, name, 4);
    await second.waitFrames(7);
    assert.deepEqual(ids(second), [...before.slice(3), ...later], 'nothing lost, in order');
    const last = await positionOf(one, later.at(-1) as string);
    await eventually(async () => (await floorOf(two, id)) === last, "node 2 writes the floor past every acknowledged event");
    await second.close();
    assert.equal(await floorOf(one, id), last, 'the floor stays where node 2 left it');
  });

  test('a node that missed the takeover: its next floor write is refused and it closes its connection with 4307', async () => {
    // A long TTL: the periodic check (every third of it) does not come first.
    const one = await startNode('node-3', 60_000);
    const name = uniqueName('refused');
    const { id } = await one.sandbox(name);
    const client = await subscribe(one, name, false);
    await eventually(async () => (await connectionsOf(one, name)) === 1, 'attached');
    const sent = await ingest(one, name, 4);
    await client.waitFrames(4);
    client.ack(sent[0] as string);
    const saved = await positionOf(one, sent[0] as string);
    await eventually(async () => (await floorOf(one, id)) === saved, 'the first floor is written');

    await takeOverUnheard(`realtime:${id}:orders`);
    for (const eventId of sent.slice(1)) client.ack(eventId);
    const closed = await Promise.race([client.closed, new Promise<undefined>((resolve) => setTimeout(resolve, 5000, undefined))]);
    assert.equal(closed?.code, 4307, 'closed once its floor write (within a second of the acks) is refused');
    assert.equal(await floorOf(one, id), saved, 'the refused floor was not written');
    const metrics = (await one.api('GET', '/metrics')).body as string;
    assert.ok(fencedWritesIn(metrics, 'node-3', 'subscriber') >= 1, 'counted as a subscriber’s refused write');
    assert.equal(fencedWritesIn(metrics, 'node-3', 'destination'), 0, 'not as a destination’s');
  });

  test('a node that missed the takeover and writes nothing learns it at its next check and closes its connection', async () => {
    const one = await startNode('node-4', 1500);
    const name = uniqueName('checked');
    const { id } = await one.sandbox(name);
    const client = await subscribe(one, name, true);
    await eventually(async () => (await connectionsOf(one, name)) === 1, 'attached');
    await takeOverUnheard(`realtime:${id}:orders`);
    const closed = await Promise.race([client.closed, new Promise<undefined>((resolve) => setTimeout(resolve, 5000, undefined))]);
    assert.equal(closed?.code, 4307, 'closed at the check every third of the TTL');
  });

  test('an instance deleted on another node: the node serving its subscriber sends the removal events, then closes with 4410, not 4307 and not at the end of its grace', async () => {
    const one = await startNode('node-5', 1500);
    const name = uniqueName('deleted-elsewhere');
    const other = uniqueName('still-here');
    await one.sandbox(name);
    await one.sandbox(other);
    // Node 2 knows both instances from its start; its periodic check (every third of a long TTL) does
    // not come during the test.
    const two = await startNode('node-6', 60_000);
    // Every event, so that the removal events come too.
    const client = await connect(two.url, { query: { instance_id: name, subscriber: 'orders' }, headers: { apikey: apiKey }, autoAck: true });
    await eventually(async () => (await connectionsOf(two, name)) === 1, 'attached on node 2');
    const sent = await ingest(one, name, 2);
    await client.waitFrames(2);

    const deletedAt = Date.now();
    assert.equal((await one.api('DELETE', `/instance/delete/${name}`)).status, 200);
    // The log moves on past the removal with another instance's events, as it does on a busy cluster.
    await ingest(one, other, 3);
    // Node 2 hears of the deletion from the removal events in the log, or first from its floor write
    // refused because the subscriber's lease went with the instance (before the fix, a 4307 that sent
    // the client to reconnect, in about one run of four). The grace it gives the subscriber to take the
    // removal events is min(REALTIME_ACK_WAIT_MS, 10 s) = 10 s here.
    const closed = await Promise.race([client.closed, new Promise<undefined>((resolve) => setTimeout(resolve, 5000, undefined))]);
    assert.equal(closed?.code, 4410, `closed as deleted within 5 s (after ${Date.now() - deletedAt} ms)`);
    assert.deepEqual(ids(client).slice(0, 2), sent, 'it got its events, none of the other instance');
    assert.deepEqual(
      client.frames.slice(2).map((frame) => frame.data.event),
      ['instance.delete', 'remove.instance'],
      'then the removal events',
    );
  });

  /** Stands for a node whose LISTEN connection is down while its poll is not due yet: it hears of no other node's append until `resume`. */
  function deafen(node: Harness): { resume(): Promise<void> } {
    const store = node.pombo.context.store as unknown as { follower: { heard(head: number): void }; committedHead(): Promise<number> };
    const heard = store.follower.heard;
    store.follower.heard = () => undefined;
    return {
      async resume() {
        store.follower.heard = heard;
        store.follower.heard(await store.committedHead());
      },
    };
  }

  test("a node that learns of the deletion before it has read the removal events still sends them before 4410", async () => {
    const one = await startNode('node-7', 60_000);
    const name = uniqueName('unheard-removal');
    await one.sandbox(name);
    const two = await startNode('node-8', 60_000);
    const client = await connect(two.url, { query: { instance_id: name, subscriber: 'orders' }, headers: { apikey: apiKey }, autoAck: false });
    await eventually(async () => (await connectionsOf(two, name)) === 1, 'attached on node 2');
    const sent = await ingest(one, name, 2);
    await client.waitFrames(2);

    const deaf = deafen(two);
    assert.equal((await one.api('DELETE', `/instance/delete/${name}`)).status, 200);
    // The acks make node 2 write the subscriber's floor: refused, the lease went with the instance.
    for (const eventId of sent) client.ack(eventId);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(client.frames.length, 2, 'node 2 has not read the removal events yet');
    await deaf.resume();
    const [, , ...removal] = await client.waitFrames(4);
    for (const frame of removal) client.ack(frame.id);
    const closed = await Promise.race([client.closed, new Promise<undefined>((resolve) => setTimeout(resolve, 5000, undefined))]);
    assert.deepEqual(removal.map((frame) => frame.data.event), ['instance.delete', 'remove.instance']);
    assert.equal(closed?.code, 4410);
  });

  test('a deletion heard several ways (the refresh, each lost lease) retires the feed once: it runs until its clients are closed', async () => {
    const one = await startNode('node-9', 1500);
    const name = uniqueName('retired-once');
    const { id } = await one.sandbox(name);
    // A short grace: min(REALTIME_ACK_WAIT_MS, 10 s).
    const two = await startNode('node-10', 1500, { REALTIME_ACK_WAIT_MS: '4000' });
    const slow = await connect(two.url, { query: { instance_id: name, subscriber: 'audit' }, headers: { apikey: apiKey }, autoAck: false });
    await eventually(async () => (await connectionsOf(two, name, 'audit')) === 1, 'attached on node 2');
    await ingest(one, name, 2);
    await slow.waitFrames(2);

    assert.equal((await one.api('DELETE', `/instance/delete/${name}`)).status, 200);
    await slow.waitFrames(4);
    // Two checks of node 2 (every third of its TTL) have found the subscriber's lease gone meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.notEqual(two.pombo.context.dispatcher.status(`realtime:${id}`), undefined, 'the feed still runs while its client has the grace to acknowledge');
    const closed = await Promise.race([slow.closed, new Promise<undefined>((resolve) => setTimeout(resolve, 6000, undefined))]);
    assert.equal(closed?.code, 4410, 'closed as deleted at the end of the grace');
    assert.equal(two.pombo.context.dispatcher.status(`realtime:${id}`), undefined, 'then the feed is gone');
  });

  test('a connection that attaches while the node looks up the instance of a lost subscriber stays open', async () => {
    const one = await startNode('node-11', 60_000);
    const name = uniqueName('attached-meanwhile');
    await one.sandbox(name);
    const two = await startNode('node-12', 60_000);
    const query = { query: { instance_id: name, subscriber: 'orders', events: 'MESSAGES_UPSERT' }, headers: { apikey: apiKey }, autoAck: true };
    const first = await connect(one.url, query);
    await eventually(async () => (await connectionsOf(one, name)) === 1, 'attached on node 1');
    // Node 1 looks the instance up slowly (a busy pool).
    const store = one.pombo.context.store;
    const getInstanceById = store.getInstanceById.bind(store);
    store.getInstanceById = async (instanceId) => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      return getInstanceById(instanceId);
    };
    const second = await connect(two.url, query);
    // The client comes back to node 1 while node 1 still looks up the instance of the subscriber it lost.
    await eventually(async () => (await connectionsOf(two, name)) === 1, 'node 2 took the subscriber');
    const third = await connect(one.url, query);
    await eventually(async () => (await connectionsOf(one, name)) === 1, 'attached on node 1 again');
    assert.equal((await first.closed).code, 4307, 'the connection node 1 lost closes with 4307');
    const closed = await Promise.race([third.closed, new Promise<undefined>((resolve) => setTimeout(resolve, 1500, undefined))]);
    assert.equal(closed, undefined, 'the one that attached meanwhile holds the subscriber and stays open');
    await Promise.all([second.close(), third.close()]);
  });
});
