import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { eventually, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { POSTGRES_SERVER, postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { clusterNodeEnv } from './cluster-processes.ts';
import { ingest } from '../realtime/ws-client.ts';
import type { ClusterStore } from '../../src/store/types.ts';
import { startReceiver, type Receiver } from '../webhook/http-receiver.ts';

/**
 * A webhook's status and replays on the node that delivers it and on the one that does not (docs/cluster.md):
 * two Pombos in this process on one PostgreSQL schema stand for two nodes.
 */
const { uri, schema, service } = await postgresTestSchema();
const TTL_MS = 1500;
const apiKey = `cluster-${randomBytes(8).toString('hex')}`;
const closing: Array<{ close(): Promise<void> }> = [];
after(async () => {
  await Promise.all(closing.map((item) => item.close()));
});

/**
 * A node of the test `t`, closed when it ends: the nodes of an earlier test, still running, would share
 * its destinations' leases with their own settings (a webhook held by one of them never paused its circuit).
 */
async function startNode(t: TestContext, id: string, env: Record<string, string> = {}): Promise<Harness> {
  const node = await startPombo({ ...clusterNodeEnv({ apiKey, uri, id, ttlMs: TTL_MS }), ...env });
  t.after(() => node.close());
  return node;
}

/** The events of the instance the receiver accepted, by id, with how many times each came. */
function counts(receiver: Receiver): Map<string, number> {
  const seen = new Map<string, number>();
  for (const request of receiver.accepted()) {
    const id = request.json?.id as string | undefined;
    if (request.json?.event === 'messages.upsert' && id) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  return seen;
}

describe('a destination seen from any node of a cluster', { skip: 'skip' in service ? service.skip : false }, () => {
  test('status shows the node that delivers it, its cursor and counts on every node; a replay asked on the other node is delivered', async (t) => {
    const receiver = await startReceiver();
    closing.push(receiver);
    const one = await startNode(t, 'node-1');
    const two = await startNode(t, 'node-2');
    const name = uniqueName('status');
    const { id } = await one.sandbox(name);
    const set = await one.api('POST', `/webhook/set/${name}`, { webhook: { enabled: true, url: `${receiver.url}/hook`, events: ['MESSAGES_UPSERT'] } });
    assert.equal(set.status, 201);

    const destination = `webhook:${id}`;
    const holderId = await eventually(async () => {
      const { body } = await one.api('GET', '/cluster');
      return (body.leases as Array<{ destination: string; nodeId: string | null }>).find((lease) => lease.destination === destination)?.nodeId;
    }, 'a node takes the webhook');
    const [holder, other] = holderId === 'node-1' ? [one, two] : [two, one];
    await eventually(async () => (await other.api('GET', `/webhook/find/${name}`)).status === 200, 'the other node knows the instance');

    const sent = await ingest(one, name, 5);
    await eventually(() => sent.every((eventId) => counts(receiver).get(eventId) === 1), 'the 5 events delivered once');
    const stateOn = async (node: Harness) => (await node.api('GET', `/webhook/find/${name}`)).body.state;

    const onHolder = await eventually(async () => {
      const state = await stateOn(holder);
      return state.backlog === 0 && state.delivered === 5 && state;
    }, 'the holder shows the deliveries');
    assert.equal(onHolder.node, holderId, 'the holder names itself');
    assert.equal(onHolder.asOf, undefined, 'its figures are its own, live');

    // The other node reads where the webhook runs, its stored cursor and its holder's figures from the database.
    const onOther = await eventually(async () => {
      const state = await stateOn(other);
      return state.delivered === 5 && state.backlog === 0 && state;
    }, "the other node shows the holder's figures (published at its next renewal)");
    assert.equal(onOther.node, holderId, 'the other node names the holder');
    assert.equal(onOther.health, 'healthy');
    assert.ok(onOther.asOf && Date.now() - Date.parse(onOther.asOf) < 10 * TTL_MS, `asOf is the holder's last renewal (${onOther.asOf})`);

    // A replay asked on the node that does not deliver the webhook: the holder sends the events again.
    const askedAt = new Date().toISOString();
    const replay = await other.api('POST', `/webhook/replay/${name}`, { ids: sent.slice(0, 2) });
    assert.equal(replay.status, 202);
    assert.deepEqual(replay.body, { replayed: 2, selected: 2, truncated: false, notFound: [] });
    await eventually(() => counts(receiver).get(sent[0] as string) === 2 && counts(receiver).get(sent[1] as string) === 2, 'the 2 replayed events delivered again');
    await eventually(async () => {
      const { body } = await other.api('GET', `/webhook/deliveries/${name}`);
      const record = body.deliveries.find((delivery: { id: string }) => delivery.id === sent[0]);
      return record?.status === 'delivered' && record.attempts.at(-1)?.at >= askedAt;
    }, "the delivery log (read on either node) shows the replay's attempt");

    // A replay queued while its notification is missed (here: written straight to the table) is picked up at the holder's next renewal.
    const client = new pg.Client({ connectionString: POSTGRES_SERVER });
    await client.connect();
    try {
      await client.query(`INSERT INTO "${schema}".pombo_replays (destination, event_ids, requested_at) VALUES ($1, $2, 0)`, [destination, [sent[4]]]);
      await eventually(() => counts(receiver).get(sent[4] as string) === 2, 'the unheard replay delivered at the next renewal', 5 * TTL_MS);
      await eventually(async () => (await client.query(`SELECT 1 FROM "${schema}".pombo_replays`)).rowCount === 0, 'handed replays are removed');
    } finally {
      await client.end();
    }
    assert.deepEqual([...counts(receiver).values()], [2, 2, 1, 1, 2], 'nothing else was sent twice');
  });

  test("a paused webhook's failed deliveries show in backlog and retrying on every node (published with the holder's status)", async (t) => {
    const receiver = await startReceiver(() => ({ status: 500 }));
    closing.push(receiver);
    const paused = {
      WEBHOOK_RETRY_INITIAL_DELAY_SECONDS: '0.05',
      WEBHOOK_RETRY_MAX_DELAY_SECONDS: '0.2',
      WEBHOOK_RETRY_JITTER_FACTOR: '0',
      WEBHOOK_CIRCUIT_FAILURE_THRESHOLD: '2',
      WEBHOOK_CIRCUIT_COOLDOWN_SECONDS: '600',
    };
    const nodes = [await startNode(t, 'node-5', paused), await startNode(t, 'node-6', paused)];
    const name = uniqueName('paused');
    await nodes[0]!.sandbox(name);
    assert.equal((await nodes[0]!.api('POST', `/webhook/set/${name}`, { webhook: { enabled: true, url: receiver.url, events: ['MESSAGES_UPSERT'] } })).status, 201);
    for (const node of nodes) await eventually(async () => (await node.api('GET', `/webhook/find/${name}`)).body?.state?.node, 'a node takes the webhook');
    // Four chats: four lanes sent side by side until the circuit pauses; those it failed stay owed behind the cursor.
    await ingest(nodes[0]!, name, 4);
    await eventually(async () => (await nodes[0]!.api('GET', `/webhook/find/${name}`)).body.state.health === 'paused', 'the circuit paused');
    const failed = new Set(receiver.requests.map((request) => request.json.id)).size;
    for (const [n, node] of nodes.entries()) {
      await eventually(async () => {
        const { state } = (await node.api('GET', `/webhook/find/${name}`)).body;
        return state.health === 'paused' && state.backlog === 4 && state.retrying === failed && state;
      }, `node ${n + 5} shows 4 events owed, ${failed} retrying`);
    }
    await nodes[0]!.api('POST', `/webhook/set/${name}`, { webhook: { enabled: false } });
  });

  test("a webhook's backlog reads the same on a node that follows none of its instance's events", async (t) => {
    // The receiver never answers: one request in flight, the rest owed.
    const receiver = await startReceiver(() => ({ hang: true }));
    closing.push(receiver);
    const nodes = [await startNode(t, 'node-7'), await startNode(t, 'node-8')];
    const name = uniqueName('owed');
    assert.equal((await nodes[0]!.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).status, 201);
    assert.equal((await nodes[0]!.api('POST', `/webhook/set/${name}`, { webhook: { enabled: true, url: receiver.url, maxInFlight: 1 } })).status, 201);
    const holderId = await eventually(async () => (await nodes[0]!.api('GET', `/webhook/find/${name}`)).body?.state?.node as string | undefined, 'a node takes the webhook');
    const holder = holderId === 'node-7' ? nodes[0]! : nodes[1]!;
    await ingest(holder, name, 20);
    // The node that does not hold it runs no worker for the instance: its backlog still counts every event owed.
    for (const [n, node] of nodes.entries()) {
      await eventually(async () => (await node.api('GET', `/webhook/find/${name}`)).body.state.backlog === 20, `node ${n + 7} shows the 20 events owed`);
    }
    await nodes[0]!.api('POST', `/webhook/set/${name}`, { webhook: { enabled: false } });
  });

  test("an instance's webhook endpoints are listed on any node with one read of the database for those other nodes run", async (t) => {
    const receiver = await startReceiver();
    closing.push(receiver);
    const nodes = [await startNode(t, 'node-3'), await startNode(t, 'node-4')];
    const name = uniqueName('endpoints');
    const { id } = await nodes[0]!.sandbox(name);
    for (let n = 0; n < 3; n++) assert.equal((await nodes[0]!.api('POST', `/webhook/endpoints/${name}`, { url: `${receiver.url}/${n}` })).status, 201);
    const destinations = new Set(((await nodes[0]!.api('GET', `/webhook/endpoints/${name}`)).body.endpoints as Array<{ id: string }>).map((endpoint) => `webhook:${id}:${endpoint.id}`));

    let mostOthers = 0;
    for (const [n, node] of nodes.entries()) {
      const listed = await eventually(async () => {
        const { status, body } = await node.api<{ endpoints: Array<{ state: { node?: string } }> }>('GET', `/webhook/endpoints/${name}`);
        return status === 200 && body.endpoints.every((endpoint) => endpoint.state.node) ? body.endpoints : undefined;
      }, `node ${n + 3} knows the endpoints and where each runs`);
      // The reads of the endpoints' states this node makes for one more listing.
      const cluster = node.pombo.context.store.cluster as ClusterStore;
      const reads: string[][] = [];
      const read = cluster.destinationStates.bind(cluster);
      cluster.destinationStates = (ids) => {
        if (ids.some((destination) => destinations.has(destination))) reads.push([...ids]);
        return read(ids);
      };
      assert.equal((await node.api('GET', `/webhook/endpoints/${name}`)).body.endpoints.length, 3);
      cluster.destinationStates = read;
      const others = listed.filter((endpoint) => endpoint.state.node !== `node-${n + 3}`).length;
      mostOthers = Math.max(mostOthers, others);
      assert.deepEqual(reads.map((ids) => ids.length), others ? [others] : [], `node ${n + 3}: one read for the ${others} endpoints other nodes run`);
    }
    assert.ok(mostOthers >= 2, 'on one node at least, two endpoints or more run elsewhere (the case a read each would show)');
  });
});
