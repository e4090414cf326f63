import type { FastifyInstance } from 'fastify';
import { MAX_OVERLAP_SECONDS } from '../../config/index.ts';
import { validationError } from '../../core/errors.ts';
import { isoTime } from '../../core/iso-time.ts';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { object, optionalInteger, optionalString } from '../../core/validate.ts';
import { apiSchema, instanceParams, strictObject, stringField } from '../../core/schemas.ts';
import type { WebhookBook } from './webhook-book.ts';
import type { WebhookSettings } from './webhook-config.ts';
import { newSecret } from './webhook-endpoint-routes.ts';
import { webhookRef } from './webhook-routes.ts';
import { secretKey } from './webhook-signature.ts';

type Rotate = { Params: { instanceName: string }; Querystring: { endpoint?: string } };

const SCHEMA = apiSchema({
  tag: 'Webhook',
  summary: 'Rotate the secret of the default webhook or of an endpoint',
  description: 'The old secret keeps signing alongside the new one for overlapSeconds (Standard Webhooks: several signatures, space-separated). The answer shows the new secret once.',
  key: 'any',
  params: instanceParams,
  querystring: strictObject({ endpoint: stringField("One of the instance's webhook endpoints (its id); the default webhook when missing.") }),
  body: {
    ...strictObject({
      secret: stringField('The new whsec_… secret; generated when left out.'),
      overlapSeconds: {
        type: 'integer',
        minimum: 0,
        maximum: MAX_OVERLAP_SECONDS,
        'x-message': `must be an integer between 0 and ${MAX_OVERLAP_SECONDS}`,
        description: 'How long the old secret keeps signing (default WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS).',
      },
    }),
    type: ['object', 'null'],
  },
});

/**
 * The settings after a rotation: `secret` signs from now on; the secret it replaces signs too for
 * `overlapMs` (Standard Webhooks lets a request carry several signatures), so receivers can switch
 * to the new one at their pace. A webhook that was not signed has nothing to overlap.
 */
export function rotated(settings: WebhookSettings, secret: string, overlapMs: number, now = Date.now()): WebhookSettings {
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
  app.post<Rotate>('/webhook/rotate-secret/:instanceName', { schema: SCHEMA }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = request.body === undefined || request.body === null ? {} : object(request.body, 'body');
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
