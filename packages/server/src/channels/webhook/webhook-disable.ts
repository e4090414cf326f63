import type { FastifyInstance } from 'fastify';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { validationError } from '../../core/errors.ts';
import { isoTime } from '../../core/iso-time.ts';
import { apiSchema, instanceParams, strictObject, stringField } from '../../core/schemas.ts';
import { deadLetters, MAX_REPLAY } from '../../delivery/dead-letters.ts';
import { redactUrl } from '../../ops/redact.ts';
import type { Instance } from '../../store/types.ts';
import { disableReason, NOT_DISABLED, type AutoDisableRules, type FailureStreak } from './webhook-auto-disable.ts';
import { destinationOf, type WebhookBook } from './webhook-book.ts';
import { webhookRef } from './webhook-routes.ts';

/**
 * Disables a webhook whose failure streak crossed a rule, and tells the operator: WEBHOOK_DISABLED is
 * appended to the instance's log, so the global destinations (and any other that selects it) get it.
 * Its position stays where its deliveries stopped: enabling it again resumes from there.
 */
export async function disableFailing(context: AppContext, book: WebhookBook, rules: AutoDisableRules, target: { instanceId: string; endpointId: string | null }, streak: FailureStreak): Promise<void> {
  const now = Date.now();
  const reason = disableReason(streak, rules, now);
  let disabled = false;
  try {
    const { instance, settings } = await book.edit(target.instanceId, target.endpointId, (current) => {
      // Set on each call: an edit may be made again over what another node wrote (which may have disabled it first).
      disabled = current.enabled;
      if (!disabled) return current;
      return { ...current, enabled: false, disabledAt: isoTime(now), disabledReason: reason, failingSince: isoTime(streak.since) };
    });
    if (!disabled) return;
    context.log.warn({ instance: instance.name, endpoint: target.endpointId, reason }, 'webhook disabled after failing');
    const data = {
      instanceName: instance.name,
      instanceId: instance.id,
      endpointId: target.endpointId,
      url: settings.url && redactUrl(settings.url),
      reason,
      consecutiveFailures: streak.failures,
      failingSince: isoTime(streak.since),
      disabledAt: isoTime(now),
    };
    await context.instances.emit(instance, { event: 'WEBHOOK_DISABLED', data }, 'pombo');
  } catch (error) {
    // The instance or endpoint may be gone meanwhile: nothing is left to disable.
    context.log.error({ err: error, instanceId: target.instanceId, endpoint: target.endpointId }, 'could not disable a failing webhook');
  }
}

/** Sends again what was dead-lettered since `since` (the start of the failures that disabled the webhook). */
async function replayFailuresSince(context: AppContext, destination: string, since: string): Promise<number> {
  const events = (await deadLetters(context.store, destination, since)).slice(0, MAX_REPLAY);
  return events.length ? context.dispatcher.replay(destination, events) : 0;
}

/**
 * Enables a webhook again: it resumes from its position (what was stored while it was disabled
 * included) and, when Pombo had disabled it, what was dead-lettered while it was failing goes again.
 */
export async function enableWebhook(context: AppContext, book: WebhookBook, instance: Instance, endpointId: string | null): Promise<{ replayed: number }> {
  let failingSince: string | null = null;
  const { instance: updated } = await book.edit(instance.id, endpointId, (current) => {
    if (!current.url) throw validationError('the webhook has no url: set one (POST /webhook/set, or PATCH the endpoint) to enable it');
    failingSince = current.failingSince ?? null;
    // An explicit resume: a pause a person made with /webhook/set ends here, its events sent (webhook-pause.ts).
    return { ...current, enabled: true, ...NOT_DISABLED, pausedAt: null, pausedAfter: null };
  });
  const since: string | null = failingSince;
  if (since === null) return { replayed: 0 };
  return { replayed: await replayFailuresSince(context, destinationOf({ instance: updated, endpointId }), since) };
}

const SCHEMA = apiSchema({
  tag: 'Webhook',
  summary: 'Enable a webhook again (after Pombo disabled it, or a pause)',
  description: 'It resumes where it stopped; when Pombo had disabled it after failing, the deliveries dead-lettered while it was failing go again.',
  key: 'any',
  params: instanceParams,
  querystring: strictObject({ endpoint: stringField('An endpoint id (ep_…); the default webhook when missing.') }),
});

/** `POST /webhook/enable/:instanceName[?endpoint=ep_…]`. */
export function webhookEnableRoute(app: FastifyInstance, context: AppContext, book: WebhookBook): void {
  app.post<{ Params: { instanceName: string }; Querystring: { endpoint?: string } }>('/webhook/enable/:instanceName', { schema: SCHEMA }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const ref = webhookRef(instance, request.query.endpoint);
    const { replayed } = await enableWebhook(context, book, instance, ref.endpointId);
    return { endpoint: ref.endpointId, enabled: true, replayed };
  });
}
