import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headers, MsgHdrsImpl } from '@nats-io/transport-node';
import { natsHeaders } from '../../src/channels/nats/nats-headers.ts';

const values = { 'event-id': '01JEXAMPLE0000000000000000', event: 'messages.upsert', 'event-key': 'MESSAGES_UPSERT', instance: 'minha-instancia' };

/**
 * natsHeaders builds headers with `MsgHdrsImpl.fromRecord`, which checks nothing: these pin that the
 * client sends them exactly as `headers().set()` would (the bytes on the wire), and that the checks
 * `set` made are made here.
 */
test('NATS headers from a record go out as headers().set() sends them, Nats-Msg-Id last', () => {
  const bySet = headers();
  for (const [name, value] of Object.entries(values)) bySet.set(name, value);
  bySet.set('Nats-Msg-Id', 'id-1');
  const built = natsHeaders(values, 'id-1');
  assert.ok(built instanceof MsgHdrsImpl);
  assert.deepEqual(Buffer.from(built.encode()).toString(), Buffer.from((bySet as MsgHdrsImpl).encode()).toString());
  assert.equal(built.get('Nats-Msg-Id'), 'id-1');
  assert.equal(natsHeaders(values).has('Nats-Msg-Id'), false, 'no Nats-Msg-Id unless given');
});

test('NATS headers refuse what headers().set() refuses: a line break in a value, a colon or space in a name', () => {
  assert.throws(() => natsHeaders({ instance: 'a\r\nNats-Msg-Id: forged' }), /contains \\r or \\n/);
  assert.throws(() => natsHeaders({ 'bad:name': 'x' }), /not a valid NATS header name/);
  assert.throws(() => natsHeaders({ 'bad name': 'x' }), /not a valid NATS header name/);
  assert.throws(() => natsHeaders({}, 'id\n2'), /contains \\r or \\n/);
});
