import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envelopeJson, envelopeOf, withFields, type EnvelopeContext } from '../../src/core/envelope.ts';
import { referenceTo } from '../../src/core/event-reference.ts';
import { createRequire } from 'node:module';
import { frameOf } from '../../src/channels/realtime/realtime-frame.ts';
import type { StoredEvent } from '../../src/store/types.ts';

const eventWith = (data: unknown, overrides: Partial<StoredEvent> = {}): StoredEvent => ({
  pos: 7,
  id: 'evt_01JD0000000000000000000000',
  instanceId: 'inst-1',
  instance: 'loja "centro" – São Paulo',
  seq: 3,
  event: 'MESSAGES_UPSERT',
  data,
  dataJson: JSON.stringify(data),
  sender: '5511999999999@s.whatsapp.net',
  createdAt: '2026-11-23T14:00:00.000Z',
  ...overrides,
});

const exposing: EnvelopeContext = { serverUrl: 'https://pombo.example/api', apikeyOf: (id) => `token-of-${id}` };
const hiding: EnvelopeContext = { serverUrl: 'http://localhost:8080', apikeyOf: () => null };

test('the envelope built from stored JSON text is exactly the serialized envelope', () => {
  const data = { key: { remoteJid: '55@s.whatsapp.net', fromMe: false, id: 'ABC' }, message: { conversation: 'olá "mundo"\n\u2028 😀' }, n: 1.5, list: [null, true] };
  const cases: Array<[StoredEvent, EnvelopeContext, string | undefined]> = [
    [eventWith(data), exposing, undefined],
    [eventWith(data), hiding, 'https://hooks.example/in?x="1"'],
    [eventWith(null, { sender: null, event: 'CONNECTION_UPDATE' }), hiding, undefined],
    [eventWith('text', { event: 'GROUP_PARTICIPANTS_UPDATE' }), exposing, ''],
    [eventWith([data], { event: 'MESSAGES_SET', extraJson: '{"isLatest":true,"progress":100}' }), exposing, 'https://hooks.example/in'],
    [eventWith([], { event: 'MESSAGES_SET', extraJson: '{"progress":null}' }), hiding, undefined],
  ];
  for (const [event, context, destination] of cases) {
    const text = envelopeJson(event, context, destination);
    assert.equal(text, JSON.stringify(envelopeOf(event, context, destination)));
    assert.deepEqual(JSON.parse(text), envelopeOf(event, context, destination));
  }
});

test('an event’s extras come first in the envelope, as Evolution API spreads them', () => {
  const text = envelopeJson(eventWith([], { event: 'MESSAGES_SET', extraJson: '{"isLatest":false,"progress":40}' }), hiding);
  assert.deepEqual(Object.keys(JSON.parse(text)).slice(0, 4), ['isLatest', 'progress', 'id', 'event']);
  assert.deepEqual(Object.keys(JSON.parse(envelopeJson(eventWith([]), hiding)))[0], 'id', 'no extras, no members');
});

test('withFields adds members at the end, as a spread would', () => {
  const envelope = envelopeOf(eventWith({ a: 1 }), exposing);
  const text = envelopeJson(eventWith({ a: 1 }), exposing);
  assert.equal(withFields(text, { timestamp: 1700000000000, dataType: 'json' }), JSON.stringify({ ...envelope, timestamp: 1700000000000, dataType: 'json' }));
  assert.equal(withFields('{}', { a: 'b' }), '{"a":"b"}');
});

test('a reference keeps everything but the data, and says where to fetch the event', () => {
  const event = eventWith({ big: 'x'.repeat(100) });
  const reference = referenceTo(envelopeJson(event, exposing), 12345);
  assert.equal('data' in reference, false);
  assert.equal(reference.id, event.id);
  assert.equal(reference.dataType, 'reference');
  assert.equal(reference.size, 12345);
  assert.equal(reference.fetch, `https://pombo.example/api/events/${encodeURIComponent(event.instance)}/${event.id}`);
});

test('a realtime frame carries the envelope built from the stored text, as the object form would serialize it', () => {
  const event = eventWith({ key: { remoteJid: '55@s.whatsapp.net', id: 'X' }, message: { conversation: 'oi "você"' } });
  const frame = frameOf(event, exposing);
  const length = frame[1] === 126 ? frame.readUInt16BE(2) : (frame[1] as number);
  const header = frame[1] === 126 ? 4 : 2;
  assert.equal(frame.length, header + length);
  const expected = { id: event.id, type: 'Message', instance_id: event.instanceId, created_at: event.createdAt, data: envelopeOf(event, exposing) };
  assert.equal(frame.subarray(header).toString('utf8'), JSON.stringify(expected));
});

/** ws's frame reader (not in its type declarations): the parser its clients read frames with. */
type FrameReader = NodeJS.WritableStream & { on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): unknown; on(event: 'error', listener: (error: Error) => void): unknown };
const Receiver = createRequire(import.meta.url)('ws').Receiver as new (options: { isServer: boolean; maxPayload: number }) => FrameReader;

test('realtime frames of every length class (7-bit, 16-bit, 64-bit) parse with ws\'s own reader as one text message', async () => {
  for (const size of [10, 1_000, 70_000]) {
    const event = eventWith({ text: 'x'.repeat(size) });
    const receiver = new Receiver({ isServer: false, maxPayload: 0 });
    const message = new Promise<{ data: Buffer; isBinary: boolean }>((resolve, reject) => {
      receiver.on('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }));
      receiver.on('error', reject);
    });
    receiver.write(frameOf(event, exposing));
    const { data, isBinary } = await message;
    assert.equal(isBinary, false, `${size}`);
    assert.equal(JSON.parse(data.toString()).data.data.text.length, size);
  }
});
