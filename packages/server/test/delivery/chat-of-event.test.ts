import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chatOf, chatOfEvent, laneOf } from '../../src/delivery/destination.ts';
import { LoggedEvent } from '../../src/store/logged-event.ts';

/** An event as read back from the log: only the JSON text the store wrote (JSON.stringify of the data). */
const logged = (data: unknown) => new LoggedEvent(7, 'evt_7', 'inst', 'bench', 7, 'MESSAGES_UPSERT', JSON.stringify(data), null, '2026-12-03T00:00:00.000Z');

/**
 * A backlog read from the log finds each event's chat (its lane under `chat` ordering, its Kafka key,
 * its SQS group) from the stored text when it begins with `key.remoteJid`: the answer must be the
 * one parsing the data gives, for every shape of data.
 */
test('the chat read from the stored text is the one parsing the data gives', () => {
  const shapes: unknown[] = [
    { key: { remoteJid: '5511999990000@s.whatsapp.net', fromMe: false, id: 'A' }, message: { conversation: 'hi' } },
    { key: { remoteJid: 'with "quotes" and \\ backslash@g.us', id: 'B' } },
    { key: { remoteJid: 'accents é ü 🐦@s.whatsapp.net' } },
    { key: { remoteJid: '' } },
    { key: { remoteJid: 42 }, remoteJid: 'top@s.whatsapp.net' },
    { key: { id: 'C', remoteJid: 'second@s.whatsapp.net' } },
    { message: { key: { remoteJid: 'nested@s.whatsapp.net' } }, remoteJid: 'top@s.whatsapp.net' },
    { remoteJid: 'top@s.whatsapp.net' },
    { id: 'group@g.us' },
    { 0: 'numeric keys come first', key: { remoteJid: 'after@s.whatsapp.net' } },
    [{ key: { remoteJid: 'in an array' } }],
    'a string',
    null,
  ];
  for (const data of shapes) {
    const event = logged(data);
    assert.equal(chatOfEvent(event), chatOf(data), JSON.stringify(data));
    assert.equal(laneOf(event, 'chat'), `inst/${chatOf(data) ?? ''}`);
  }
});
