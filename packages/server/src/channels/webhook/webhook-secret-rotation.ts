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
import { secretKey } from './webhook-signature.ts';

type Rotate = { Params: { instanceName: string }; Querystring: { endpoint?: string }; Body: Obj | undefined };

const rotate = apiSchema({
  tag: 'Webhook',
  summary: "Rotate a webhook's signing secret (the old one keeps signing during the overlap)",
  key: 'any',
  params: instanceParams,
  querystring: strictObject({ endpoint: stringField('An endpoint id (ep_…); the default webhook when missing.') }),
  body: optionalBody(strictObject({
    secret: stringField('The new Standard Webhooks secret (whsec_…); generated when missing.'),
    overlapSeconds: { type: 'integer', minimum: 0, maximum: MAX_OVERLAP_SECONDS, description: 'How long the old secret keeps signing (default WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS).' },
  })),
});

/**
 * The settings after a rotation: `secret` signs from now on; the secret it replaces signs too for
 * `overlapMs` (Standard Webhooks lets a request carry several signatures), so receivers can switch
 * to the new one at their pace. A webhook that was not signed has nothing to overlap.
 */
export function rotated(settings: WebhookSettings, secret: string, overlapMs: number, now = Date.now()): WebhookSettings {
  // The same rotation again (a client that retried after a timeout): nothing changes, the overlap goes on.
  if (settings.secret === secret) return settings;
  const overlap = overlapMs > 0 && settings.secret !== null && settings.secret !== secret;
  return {
    ...settings,
    secret,
    previousSecret: overlap ? settings.secret : null,
    previousSecretExpiresAt: overlap ? isoTime(now + overlapMs) : null,
  };
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
    // The one answer that shows the new secret in full; `find` masks it.
    return {
      endpoint: ref.endpointId,
      secret,
      previousSecretExpiresAt: settings.previousSecretExpiresAt ?? null,
    };
  });
}
