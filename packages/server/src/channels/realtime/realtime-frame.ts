import { envelopeJson, type EnvelopeContext } from '../../core/envelope.ts';
import { realtimeTypeOf } from '../../core/event-names.ts';
import { ulid } from '../../core/ids.ts';
import type { StoredEvent } from '../../store/types.ts';

/**
 * The one kind of frame the server sends: an event. `data` is exactly the payload a webhook
 * receives for the same event (Pombo's envelope), as seed 000 says, so handlers can be shared
 * and `data.event` tells apart events of one type (`Message` is both `messages.upsert` and `send.message`).
 */
export interface EventFrame {
  id: string;
  type: string;
  instance_id: string;
  created_at: string;
  data: unknown;
}

/** A live event is the same object for every subscriber of it, so its frame is made once. */
const framed = new WeakMap<StoredEvent, Buffer>();

/**
 * An event's whole WebSocket frame, header included: a server's frames are unmasked, so one frame
 * serves every socket, each written with a single write.
 */
export function frameOf(event: StoredEvent, context: EnvelopeContext): Buffer {
  let frame = framed.get(event);
  if (frame === undefined) {
    // An EventFrame's JSON, built around the envelope's text (the event's data is not parsed again).
    const head = `{"id":${JSON.stringify(event.id)},"type":${JSON.stringify(realtimeTypeOf(event))}`;
    frame = textFrame(`${head},"instance_id":${JSON.stringify(event.instanceId)},"created_at":"${event.createdAt}","data":${envelopeJson(event, context)}}`);
    framed.set(event, frame);
  }
  return frame;
}

/** A final, unmasked text frame (RFC 6455 §5.2) carrying `text`. */
function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const header = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (header === 2) frame[1] = length;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.write(text, header, 'utf8');
  return frame;
}

export interface GapData {
  reason: 'retention';
  message: string;
  /** The client's `last_event_id`, when that is what fell out of retention. */
  last_event_id: string | null;
  /** The time of the oldest event still retained; null when the log is empty. */
  oldest_retained_at: string | null;
}

/** The `Gap` event: some events after the subscriber's position were pruned before delivery. Never stored. */
export function gapFrame(instanceId: string, data: GapData): string {
  const body: EventFrame = { id: `gap_${ulid()}`, type: 'Gap', instance_id: instanceId, created_at: new Date().toISOString(), data };
  return JSON.stringify(body);
}

const CANONICAL_ACK = '{"type":"ack","event_id":"';

/** The event id a client frame acknowledges (`{"type":"ack","event_id"|"id"|"eventId":…}`), else undefined. */
export function ackedId(text: string): string | undefined {
  // The form the SDKs send, read without parsing: an ack per event is most of what the server reads.
  if (text.startsWith(CANONICAL_ACK) && text.endsWith('"}')) {
    const id = text.slice(CANONICAL_ACK.length, -2);
    if (id !== '' && !id.includes('"') && !id.includes('\\')) return id;
  }
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (message === null || typeof message !== 'object') return undefined;
  const { type, event_id, id, eventId } = message as Record<string, unknown>;
  if (type !== 'ack') return undefined;
  const acked = [event_id, id, eventId].find((value) => typeof value === 'string' && value !== '');
  return acked as string | undefined;
}
