import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, uniqueName, withPombo, type Harness } from '../helpers/pombo-harness.ts';
import { connect, ingest } from './ws-client.ts';
import { managerCookie } from '../helpers/manager-session.ts';

/** The instance's realtime series of a lag or retrying gauge, as /metrics shows it now. */
async function gauge(pombo: Harness, metric: 'lag_events' | 'retrying', name: string): Promise<number | undefined> {
  const text = (await pombo.api('GET', '/metrics')).body as string;
  const found = new RegExp(`^pombo_destination_${metric}\\{channel="realtime",instance_name="${name}"\\} (\\d+)$`, 'm').exec(text);
  return found ? Number(found[1]) : undefined;
}

/** The manager's row of the instance's realtime feed in its destinations list. */
async function feedRow(pombo: Harness, name: string): Promise<string> {
  const cookie = await managerCookie(pombo);
  const html = await (await fetch(`${pombo.url}/manager/fragments/destinations`, { headers: { cookie } })).text();
  const rows = html.split('<tr ').filter((row) => row.includes(`<td>${name}</td>`) && row.includes('<td>realtime</td>'));
  assert.equal(rows.length, 1, `one realtime row for ${name}`);
  return rows[0]!;
}

test("a realtime subscriber's backlog and unacknowledged retries are the instance's lag and retrying gauges: the largest lag, the retries summed", () =>
  withPombo({ REALTIME_ACK_WAIT_MS: '200', REALTIME_MAX_DELIVER: '1000' }, async (pombo) => {
    const name = uniqueName('gauges');
    const { token } = await pombo.sandbox(name);
    const headers = { authorization: `Bearer ${token}` };
    const acker = await connect(pombo.url, { query: { instance_id: name, subscriber: 'acker' }, headers, autoAck: true });
    const lazy = await connect(pombo.url, { query: { instance_id: name, subscriber: 'lazy' }, headers });
    const ids = await ingest(pombo, name, 5);
    await acker.waitFrames(5);
    // Past an ack wait, lazy's five events were sent again: they owe 5 and retry 5; the acker owes nothing.
    await lazy.waitFrames(10);
    const subscribers = async () => (await pombo.api('GET', `/realtime/find/${name}`)).body.subscribers as Array<{ subscriber: string; backlog: number }>;
    await eventually(async () => (await subscribers()).find((one) => one.subscriber === 'acker')?.backlog === 0, 'the acker caught up');
    // The feed's own cursor is written within a second (its saveDelayMs): past it, the feed alone owes nothing.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.equal((await subscribers()).find((one) => one.subscriber === 'lazy')?.backlog, 5);
    assert.equal(await gauge(pombo, 'lag_events', name), 5, 'the largest backlog of the instance: lazy\'s, as /realtime/find shows it');
    assert.equal(await gauge(pombo, 'retrying', name), 5, "lazy's events sent again and not acknowledged");
    // The manager's row of the instance's realtime feed shows its subscribers' figures, as the gauges do.
    const row = await feedRow(pombo, name);
    assert.match(row, /data-field="lag">5</);
    assert.match(row, /data-field="retrying">5</);

    // A second lazy connection of another name: the retries add up, the lag stays the largest.
    const other = await connect(pombo.url, { query: { instance_id: name, subscriber: 'other', last_event_id: ids[1]! }, headers });
    await other.waitFrames(6);
    await eventually(async () => (await gauge(pombo, 'retrying', name)) === 8, 'the retries of both summed (5 + 3)');
    assert.equal(await gauge(pombo, 'lag_events', name), 5);

    for (const id of ids) lazy.ack(id);
    for (const id of ids.slice(2)) other.ack(id);
    await eventually(async () => (await gauge(pombo, 'lag_events', name)) === 0 && (await gauge(pombo, 'retrying', name)) === 0, 'nothing owed once acknowledged');
    await Promise.all([acker.close(), lazy.close(), other.close()]);
  }),
);
