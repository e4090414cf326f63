import { eventName } from '../../core/event-names.ts';
import type { StoredEvent } from '../../store/types.ts';

/**
 * The headers Evolution API 2.3.7 adds to each webhook request, so a receiver can route on them
 * without parsing the body: the instance's id and name, the event's dotted name, and the time of
 * the request in milliseconds since the epoch (a retry carries its own time; `date_time` in the body
 * stays the event's). Lower-cased like every header Pombo sends, so a configured header of the same
 * name replaces it instead of doubling it.
 */
export function eventHeaders(event: StoredEvent, now = Date.now()): Record<string, string> {
  return {
    'x-instance-id': event.instanceId,
    'x-instance-name': event.instance,
    'x-event-type': eventName(event.event).dotted,
    'x-timestamp': String(now),
  };
}
