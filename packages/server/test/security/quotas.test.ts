import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { eventually, startPombo, uniqueName } from '../helpers/pombo-harness.ts';
import { assertError } from '../core/http-assert.ts';
import { connect } from '../realtime/ws-client.ts';

test('INSTANCE_MAX: past it /instance/create is a 403 naming the limit; deleting one frees a place', async (t) => {
  const pombo = await startPombo({ INSTANCE_MAX: '3' });
  t.after(() => pombo.close());
  const names = [uniqueName('q'), uniqueName('q'), uniqueName('q')];
  for (const name of names) assert.equal((await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).status, 201);
  const extra = uniqueName('q');
  assertError(await pombo.api('POST', '/instance/create', { instanceName: extra }), 403, 'POMBO_ERR_LIMIT_REACHED', /this server has 3 instances: the limit is 3 \(INSTANCE_MAX/);
  assert.equal((await pombo.api('GET', '/instance/fetchInstances')).body.length, 3, 'nothing was created');
  assert.equal((await pombo.api('DELETE', `/instance/delete/${names[0]}`)).status, 200);
  assert.equal((await pombo.api('POST', '/instance/create', { instanceName: extra, integration: 'INGEST' })).status, 201);
});

test('SANDBOX_MAX_GROUPS: past it a 403; the groups a deleted instance created are gone from the sandbox, for its members too', async (t) => {
  const pombo = await startPombo({ SANDBOX_MAX_GROUPS: '2' });
  t.after(() => pombo.close());
  const creator = uniqueName('gc');
  const creatorToken = (await pombo.sandbox(creator, { number: '5511933330001' })).token;
  const member = uniqueName('gm');
  const memberToken = (await pombo.sandbox(member, { number: '5511933330002' })).token;
  const create = (subject: string, token = creatorToken, name = creator) =>
    pombo.api('POST', `/group/create/${name}`, { subject, participants: ['5511933330002'] }, token);
  const first = await create('one');
  assert.equal(first.status, 201);
  assert.equal((await create('two')).status, 201);
  assertError(await create('three'), 403, 'POMBO_ERR_LIMIT_REACHED', /has created 2 groups: the limit is 2 \(SANDBOX_MAX_GROUPS/);
  // The limit is per instance: the member may still create its own.
  assert.equal((await create('mine', memberToken, member)).status, 201);

  const add = { action: 'add', participants: ['5511933330009'] };
  const promote = { action: 'promote', participants: ['5511933330002'] };
  assert.equal((await pombo.api('POST', `/group/updateParticipant/${creator}?groupJid=${first.body.id}`, promote, creatorToken)).status, 201);
  assert.equal((await pombo.api('POST', `/group/updateParticipant/${member}?groupJid=${first.body.id}`, add, memberToken)).status, 201);
  assert.equal((await pombo.api('DELETE', `/instance/delete/${creator}`)).status, 200);
  // The group is gone from the sandbox (the member's log keeps the history of what happened).
  assertError(
    await pombo.api('POST', `/group/updateParticipant/${member}?groupJid=${first.body.id}`, add, memberToken),
    400,
    'POMBO_ERR_VALIDATION',
    /is not a group/,
  );
  // An instance made again under the same name starts with no groups.
  const again = (await pombo.sandbox(creator, { number: '5511933330003' })).token;
  assert.equal((await create('one again', again)).status, 201);
  assert.equal((await create('two again', again)).status, 201);
});

test('REALTIME_MAX_SUBSCRIBERS: a new subscriber name past it is refused with 403; known names still connect', async (t) => {
  const pombo = await startPombo({ REALTIME_MAX_SUBSCRIBERS: '2' });
  let closed = false;
  t.after(() => (closed ? undefined : pombo.close()));
  const name = uniqueName('rt');
  const token = (await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' })).body.hash;
  const open = (subscriber: string) => connect(pombo.url, { query: { instance_id: name, subscriber }, headers: { 'x-instance-token': token } });
  const a = await open('a');
  const b = await open('b');
  await a.close();
  const refused = await open('c').then(
    () => assert.fail('a third name connected'),
    (error: { status: number; body: string }) => error,
  );
  assert.equal(refused.status, 403);
  assert.equal(JSON.parse(refused.body).code, 'POMBO_ERR_LIMIT_REACHED');
  assert.match(refused.body, /2 realtime subscriber names: the limit is 2 \(REALTIME_MAX_SUBSCRIBERS/);
  // A name seen before comes back, even after all its connections closed.
  const again = await open('a');
  await again.close();
  await b.close();
  // The names are the stored positions: a restart on the same data still counts them.
  const dataDir = pombo.dataDir;
  await pombo.close({ keepData: true });
  closed = true;
  const restarted = await startPombo({ REALTIME_MAX_SUBSCRIBERS: '2', AUTHENTICATION_API_KEY: pombo.apiKey }, dataDir);
  t.after(() => restarted.close());
  const afterRestart = await connect(restarted.url, { query: { instance_id: name, subscriber: 'd' }, headers: { 'x-instance-token': token } }).then(
    () => 0,
    (error: { status: number }) => error.status,
  );
  assert.equal(afterRestart, 403);
  await eventually(async () => (await connect(restarted.url, { query: { instance_id: name, subscriber: 'b' }, headers: { 'x-instance-token': token } }).then((client) => client.close().then(() => true))), 'a known name after the restart');
});

test('REALTIME_MAX_SUBSCRIBERS counts names that connected: handshakes refused by the upgrade (a bad Sec-WebSocket-Key) use none', async (t) => {
  const pombo = await startPombo({ REALTIME_MAX_SUBSCRIBERS: '2' });
  t.after(() => pombo.close());
  const name = uniqueName('rt');
  await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
  const badHandshake = (subscriber: string) =>
    new Promise<number | undefined>((resolve, reject) => {
      const headers = { apikey: pombo.apiKey, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'not a key' };
      const request = httpRequest(`${pombo.url}/events/ws?instance_id=${name}&subscriber=${subscriber}`, { headers });
      request.on('response', (response) => resolve(response.resume().statusCode)).on('upgrade', () => reject(new Error('upgraded'))).on('error', reject).end();
    });
  for (const subscriber of ['ghost1', 'ghost2', 'ghost3']) assert.equal(await badHandshake(subscriber), 400);
  const open = (subscriber: string) => connect(pombo.url, { query: { instance_id: name, subscriber }, headers: { apikey: pombo.apiKey } });
  const a = await open('a');
  const b = await open('b');
  // The names that connected still count.
  const refused = await open('c').then(
    () => assert.fail('a third name connected'),
    (error: { status: number }) => error.status,
  );
  assert.equal(refused, 403);
  await Promise.all([a.close(), b.close()]);
});
