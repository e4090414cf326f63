import { envelopeOf, type EnvelopeContext } from '../../core/envelope.ts';
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

/** A live event is the same object for every subscriber of it, so it is serialized (and encoded) once. */
const serialized = new WeakMap<StoredEvent, Buffer>();

/** The UTF-8 text of an event's frame. */
export function frameOf(event: StoredEvent, context: EnvelopeContext): Buffer {
  let frame = serialized.get(event);
  if (frame === undefined) {
    const body: EventFrame = {
      id: event.id,
      type: realtimeTypeOf(event.event, event.data),
      instance_id: event.instanceId,
      created_at: event.createdAt,
      data: envelopeOf(event, context),
    };
    frame = Buffer.from(JSON.stringify(body));
    serialized.set(event, frame);
  }
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

/** The event id a client frame acknowledges (`{"type":"ack","event_id"|"id"|"eventId":…}`), else undefined. */
export function ackedId(text: string): string | undefined {
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
