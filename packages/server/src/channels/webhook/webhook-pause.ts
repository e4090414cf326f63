import { isoTime } from '../../core/iso-time.ts';
import type { StoredEvent } from '../../store/types.ts';
import type { WebhookSettings } from './webhook-config.ts';

/**
 * A webhook a person disables with `/webhook/set` is off, as in Evolution API, which sends nothing
 * while it is disabled: enabled again by `/webhook/set`, it does not send what was stored meanwhile
 * (a backlog that would flood the receiver), only what comes after. The pause is kept as times on the
 * settings, so that every node skips the same events. Pombo's own auto-disable (which keeps what a
 * failing receiver is owed) and `POST /webhook/enable` (an explicit resume) are not pauses.
 */
export function replacingWebhook(previous: WebhookSettings | undefined, next: WebhookSettings, now = Date.now()): WebhookSettings {
  const wasPaused = previous?.enabled === false ? previous.pausedAt : undefined;
  if (!next.enabled) return { ...next, pausedAt: wasPaused ?? isoTime(now) };
  if (wasPaused) return { ...next, paused: { from: wasPaused, to: isoTime(now) } };
  // Set again while enabled: the pause it ended still applies to what the webhook has not read yet.
  return previous?.enabled && previous.paused ? { ...next, paused: previous.paused } : next;
}

/** Whether an event was stored during the webhook's last pause (not sent). */
export function storedWhilePaused(settings: WebhookSettings): ((event: StoredEvent) => boolean) | undefined {
  const paused = settings.paused;
  if (!paused) return undefined;
  return (event) => event.createdAt >= paused.from && event.createdAt <= paused.to;
}
