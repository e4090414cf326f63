import type { AppContext } from '../app-context.ts';

/** Prunes events older than EVENTS_RETENTION_HOURS, at most every ten minutes. */
export function startRetention(context: AppContext): { stop(): void } {
  const retentionMs = context.config.events.retentionHours * 3_600_000;
  const prune = async () => {
    try {
      const before = new Date(Date.now() - retentionMs);
      const removed = await context.store.prune(before);
      await context.sandbox.media.prune(before);
      if (removed) context.log.info({ removed }, 'pruned events past retention');
    } catch (error) {
      context.log.error({ err: error }, 'pruning failed; will try again');
    }
  };
  const timer = setInterval(prune, Math.min(600_000, Math.max(1000, retentionMs / 10)));
  timer.unref();
  void prune();
  return { stop: () => clearInterval(timer) };
}
