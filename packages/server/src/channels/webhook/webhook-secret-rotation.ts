import type { FastifyInstance } from 'fastify';
import { MAX_OVERLAP_SECONDS } from '../../config/index.ts';
import { validationError } from '../../core/errors.ts';
import { isoTime } from '../../core/iso-time.ts';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { apiSchema, instanceParams, optionalBody, strictObject, stringField } from '../../core/schemas.ts';
import { optionalInteger, optionalString, type Obj } from '../../core/validate.ts';
import type { WebhookBook } from './webhook-book.ts';
import type { WebhookSettings } from './webhook-config.ts';
import { newSecret } from './webhook-endpoint-routes.ts';
import { webhookRef } from './webhook-routes.ts';
import { MAX_PREVIOUS_SECRETS, previousSecretsOf, withPreviousSecrets } from './webhook-previous-secrets.ts';
import { maskSecret, secretKey } from './webhook-signature.ts';

type Rotate = { Params: { instanceName: string }; Querystring: { endpoint?: string }; Body: Obj | undefined };

const rotate = apiSchema({
  tag: 'Webhook',
  summary: "Rotate a webhook's signing secret (the old one keeps signing during the overlap)",
  key: 'any',
  params: instanceParams,
  querystring: strictObject({ endpoint: stringField('An endpoint id (ep_…); the default webhook when missing.') }),
  body: optionalBody(strictObject({
    secret: stringField('The new Standard Webhooks secret (whsec_…); generated when missing.'),
    overlapSeconds: { type: 'integer', minimum: 0, maximum: MAX_OVERLAP_SECONDS, description: 'How long the secret replaced keeps signing (default WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS); secrets rotated out before it, at most as long.' },
  })),
});

/**
 * The settings after a rotation: `secret` signs from now on; the secret it replaces signs too for
 * `overlapMs` (Standard Webhooks lets a request carry several signatures), so receivers can switch
 * to the new one at their pace. Secrets rotated out earlier whose overlap goes on keep signing: a
 * receiver still on one of them is not cut off because the webhook was rotated again. No older secret
 * outlives a newer one, though: each ends at the latest with the new overlap, so that `overlapMs` 0
 * still switches at once. A webhook that was not signed has nothing to overlap.
 */
export function rotated(settings: WebhookSettings, secret: string, overlapMs: number, now = Date.now()): WebhookSettings {
  // The same rotation again (a client that retried after a timeout): nothing changes, the overlap goes on.
  if (settings.secret === secret) return settings;
  if (overlapMs <= 0 || settings.secret === null) return withPreviousSecrets({ ...settings, secret }, []);
  const endsAt = now + overlapMs;
  const earlier = previousSecretsOf(settings, now)
    .filter((previous) => previous.secret !== secret)
    .map((previous) => ({ secret: previous.secret, expiresAt: isoTime(Math.min(Date.parse(previous.expiresAt), endsAt)) }));
  return withPreviousSecrets({ ...settings, secret }, [{ secret: settings.secret, expiresAt: isoTime(endsAt) }, ...earlier].slice(0, MAX_PREVIOUS_SECRETS));
}

/** `POST /webhook/rotate-secret/:instanceName[?endpoint=ep_…]` `{"secret"?: "whsec_…", "overlapSeconds"?: n}`. */
export function secretRotationRoute(app: FastifyInstance, context: AppContext, book: WebhookBook, defaultOverlapSeconds: number): void {
  app.post<Rotate>('/webhook/rotate-secret/:instanceName', { schema: rotate }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = request.body ?? {};
    const given = optionalString(body, 'secret');
    if (given !== undefined) {
      const key = secretKey(given);
      if (typeof key === 'string') throw validationError(`secret ${key}`);
    }
    const overlapSeconds = optionalInteger(body, 'overlapSeconds', 0, MAX_OVERLAP_SECONDS) ?? defaultOverlapSeconds;
    const ref = webhookRef(instance, request.query.endpoint);
    const secret = given ?? newSecret();
    const { settings } = await book.edit(instance.id, ref.endpointId, (current) => rotated(current, secret, overlapSeconds * 1000));
    const overlapping = previousSecretsOf(settings);
    // The one answer that shows the new secret in full; `find` masks it.
    return {
      endpoint: ref.endpointId,
      secret,
      // When the secret it replaced stops signing (null: at once), the newest of those still signing beside the new one.
      previousSecretExpiresAt: overlapping[0]?.expiresAt ?? null,
      previousSecrets: overlapping.map((previous) => ({ secret: maskSecret(previous.secret), expiresAt: previous.expiresAt })),
    };
  });
}
