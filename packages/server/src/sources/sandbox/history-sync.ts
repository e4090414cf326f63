import type { Emit } from '../../instances/instance-service.ts';
import type { MessageRecord } from '../../log-views/message-records.ts';

/** Messages per MESSAGES_SET of a history sync. */
const HISTORY_CHUNK = 50;

/** A message as a history sync carries it: Evolution API's message shape, its last status included. */
function historyMessage({ id: _eventId, MessageUpdate, ...message }: MessageRecord): Record<string, unknown> {
  const status = MessageUpdate.at(-1)?.status;
  return status ? { ...message, status } : message;
}

/**
 * A history sync, as WhatsApp sends one to a number that links again: the messages it had (newest
 * first, as messageRecords gives them), oldest first in MESSAGES_SET events of HISTORY_CHUNK
 * messages, each with Evolution API 2.3.7's `progress` (0 to 100) and `isLatest` (the last chunk).
 */
export function historySync(records: readonly MessageRecord[]): Emit[] {
  const messages = [...records].reverse().map(historyMessage);
  const chunks: Emit[] = [];
  for (let start = 0; start < messages.length; start += HISTORY_CHUNK) {
    const end = Math.min(start + HISTORY_CHUNK, messages.length);
    chunks.push({
      event: 'MESSAGES_SET',
      data: messages.slice(start, end),
      extra: { isLatest: end === messages.length, progress: Math.round((100 * end) / messages.length) },
    });
  }
  return chunks;
}
