import { isoTime } from '../../core/iso-time.ts';
import type { StoredEvent } from '../../store/types.ts';
import type { LogMoment } from '../channel.ts';
import type { WebhookSettings } from './webhook-config.ts';

/**
 * A webhook a person disables with `/webhook/set` is off, as in Evolution API, which sends nothing
 * while it is disabled: enabled again by `/webhook/set`, it does not send what was stored meanwhile
 * (a backlog that would flood the receiver), only what comes after. The pause is kept as log positions
 * on the settings (times only to show it): positions are the log's own order, the same on every node,
 * where a node's clock may run ahead of, or behind, the times the store gave the events. Pombo's own
 * auto-disable (which keeps what a failing receiver is owed) and `POST /webhook/enable` (an explicit
 * resume) are not pauses.
 */
export function replacingWebhook<S extends WebhookSettings>(previous: WebhookSettings | undefined, next: S, at: LogMoment): S {
  const wasPaused = previous?.enabled === false && previous.pausedAt ? previous : undefined;
  if (!next.enabled) {
    return wasPaused
      ? { ...next, pausedAt: wasPaused.pausedAt, pausedAfter: wasPaused.pausedAfter ?? at.position }
      : { ...next, pausedAt: isoTime(at.now), pausedAfter: at.position };
  }
  const enabled = { ...next, pausedAt: null, pausedAfter: null };
  if (wasPaused) {
    const times = wasPaused.pausedAt ? { from: wasPaused.pausedAt, to: isoTime(at.now) } : {};
    return { ...enabled, paused: { after: wasPaused.pausedAfter ?? at.position, through: at.position, ...times } };
  }
  // Set again while enabled: the pause it ended still applies to what the webhook has not read yet.
  return { ...enabled, paused: previous?.enabled ? (previous.paused ?? null) : null };
}

/** Whether an event was stored during the webhook's last pause (not sent). */
export function storedWhilePaused(settings: WebhookSettings): ((event: StoredEvent) => boolean) | undefined {
  const paused = settings.paused;
  // A pause kept as times (before positions) is not applied: sending its events loses none.
  if (typeof paused?.after !== 'number' || typeof paused.through !== 'number') return undefined;
  const { after, through } = paused;
  return (event) => event.pos > after && event.pos <= through;
}
