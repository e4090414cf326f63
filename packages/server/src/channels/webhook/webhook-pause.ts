import { isoTime } from '../../core/iso-time.ts';
import type { StoredEvent } from '../../store/types.ts';
import type { LogMoment } from '../channel.ts';
import type { WebhookSettings } from './webhook-config.ts';

/**
 * A pause a person made, once the webhook is enabled again: the events stored meanwhile (positions after
 * `after`, through `through`) are not sent; `from` and `to`, the times it was disabled and enabled, are
 * shown by `find` (`pauses`, `lastPause`) for a time-range replay of them.
 */
export interface PauseWindow {
  after: number;
  through: number;
  from?: string;
  to?: string;
}

/** How many pauses a webhook keeps (and `find` shows): enough for a person to replay each, bounded in the stored settings. */
export const MAX_PAUSES = 10;

/**
 * A webhook a person disables with `/webhook/set` is off, as in Evolution API, which sends nothing
 * while it is disabled: enabled again by `/webhook/set`, it does not send what was stored meanwhile
 * (a backlog that would flood the receiver), only what comes after. The pause is kept as log positions
 * on the settings (times only to show it): positions are the log's own order, the same on every node,
 * where a node's clock may run ahead of, or behind, the times the store gave the events. Pombo's own
 * auto-disable (which keeps what a failing receiver is owed) and `POST /webhook/enable` (an explicit
 * resume) are not pauses.
 */
export function replacingWebhook<S extends WebhookSettings>(previous: S | undefined, given: S, at: LogMoment): S {
  // `"enabled": false` with no `url` only turns it off: what it was set to is kept, so that `POST
  // /webhook/enable` turns it on again as it was (a set that gives a `url` replaces it all, as in Evolution API).
  const next = !given.enabled && !given.url && previous?.url ? { ...previous, enabled: false } : given;
  const wasPaused = previous?.enabled === false && previous.pausedAt ? previous : undefined;
  // Every change keeps the pauses ended before: each still applies to what the webhook has not read yet.
  const kept = { ...next, pauses: pausesOf(previous), paused: undefined };
  if (!next.enabled) {
    return wasPaused
      ? { ...kept, pausedAt: wasPaused.pausedAt, pausedAfter: wasPaused.pausedAfter ?? at.position }
      : { ...kept, pausedAt: isoTime(at.now), pausedAfter: at.position };
  }
  const enabled = { ...kept, pausedAt: null, pausedAfter: null };
  if (!wasPaused) return enabled;
  const times = wasPaused.pausedAt ? { from: wasPaused.pausedAt, to: isoTime(at.now) } : {};
  const ended = { after: wasPaused.pausedAfter ?? at.position, through: at.position, ...times };
  return { ...enabled, pauses: [ended, ...enabled.pauses].slice(0, MAX_PAUSES) };
}

/** The pauses kept, newest first (settings stored when only the last was kept hold it as `paused`). */
export function pausesOf(settings: WebhookSettings | undefined): PauseWindow[] {
  return settings?.pauses ?? (settings?.paused ? [settings.paused] : []);
}

/** Whether an event was stored during one of the webhook's pauses (not sent). */
export function storedWhilePaused(settings: WebhookSettings): ((event: StoredEvent) => boolean) | undefined {
  // A pause kept as times (before positions) is not applied: sending its events loses none.
  const windows = pausesOf(settings).filter(({ after, through }) => typeof after === 'number' && typeof through === 'number');
  if (!windows.length) return undefined;
  return (event) => windows.some(({ after, through }) => event.pos > after && event.pos <= through);
}
