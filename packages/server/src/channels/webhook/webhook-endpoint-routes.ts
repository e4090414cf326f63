import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { PomboError, validationError } from '../../core/errors.ts';
import { ulid } from '../../core/ids.ts';
import { isoTime } from '../../core/iso-time.ts';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import type { Obj } from '../../core/validate.ts';
import type { DestinationReport } from '../../delivery/dispatcher.ts';
import { apiSchema, instanceNameParam, instanceParams, strictObject, stringField, type JsonSchema } from '../../core/schemas.ts';
import { endpointsOf, settingsOf, type WebhookBook } from './webhook-book.ts';
import { enableWebhook } from './webhook-disable.ts';
import { replacingWebhook } from './webhook-pause.ts';
import { withPreviousSecrets } from './webhook-previous-secrets.ts';
import {
  checkedWebhookSettings,
  endpointWebhook,
  parseWebhookSettings,
  refuseResolvedUrl,
  WEBHOOK_CONFIG_SCHEMA, type WebhookEndpoint, type WebhookRules, type WebhookSettings } from './webhook-config.ts';

type Named = { Params: { instanceName: string }; Body: Obj };
type OneEndpoint = { Params: { instanceName: string; endpointId: string }; Body: Obj };

export interface EndpointRouteOptions {
  book: WebhookBook;
  /** The settings as routes show them, with the delivery state of their destination. */
  view(settings: WebhookSettings, report: DestinationReport): Record<string, unknown>;
  /** Header limits and URL policy, as for the default webhook. */
  rules: WebhookRules;
  maxEndpoints: number;
}

/** A new Standard Webhooks secret: endpoints are signed unless told otherwise. */
export const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

const DESCRIPTION_MAX = 500;

/** An endpoint's body: a webhook's fields (as under `webhook` in /webhook/set) and a description. */
const ENDPOINT_BODY: JsonSchema = {
  ...WEBHOOK_CONFIG_SCHEMA,
  properties: {
    ...(WEBHOOK_CONFIG_SCHEMA.properties as Record<string, JsonSchema>),
    description: { type: ['string', 'null'], description: `What the endpoint is for, at most ${DESCRIPTION_MAX} characters.` },
  },
};
const endpointParams = strictObject({ instanceName: instanceNameParam, endpointId: stringField('The endpoint id (ep_…).') }, ['instanceName', 'endpointId']);
const endpointSchema = (summary: string, more: { body?: JsonSchema; one?: boolean } = {}) =>
  apiSchema({ tag: 'Webhook', summary, key: 'any', params: more.one ? endpointParams : instanceParams, ...(more.body ? { body: more.body } : {}) });
const SCHEMAS = {
  create: endpointSchema('Add a webhook endpoint (a secret is generated unless given)', { body: ENDPOINT_BODY }),
  list: endpointSchema("The instance's webhook endpoints"),
  get: endpointSchema('One webhook endpoint and its delivery state', { one: true }),
  patch: endpointSchema('Change a webhook endpoint (fields not sent are kept)', { body: ENDPOINT_BODY, one: true }),
  delete: endpointSchema('Delete a webhook endpoint, its cursor and its delivery log', { one: true }),
};

function description(body: Obj, fallback: string | null): string | null {
  const value = body.description;
  if (value === undefined) return fallback;
  if (value === null || value === '') return null;
  if (typeof value !== 'string' || value.length > DESCRIPTION_MAX) throw validationError(`description must be a string of at most ${DESCRIPTION_MAX} characters`);
  return value;
}

/** The stored settings as a request body, so that a PATCH is validated exactly as a create. */
function asInput(endpoint: WebhookSettings): Obj {
  const { enabled, url, events, headers, base64, byEvents, secret, ordering, maxInFlight, filter } = endpoint;
  return { enabled, url, events, headers, base64, byEvents, secret, ordering, maxInFlight, filter };
}

/**
 * Additional webhooks of an instance (Svix's and Outpost's endpoints): each its own destination, with
 * its own events, secret, headers, ordering, delivery log and replay. The default webhook
 * (`/webhook/set`) is not one of them and works as before.
 */
export function webhookEndpointRoutes(app: FastifyInstance, context: AppContext, options: EndpointRouteOptions): void {
  const { book, view, maxEndpoints } = options;
  const show = async (instanceId: string, endpoint: WebhookEndpoint) => view(endpoint, await context.dispatcher.reportOf(endpointWebhook(instanceId, endpoint.id)));

  app.post<Named>('/webhook/endpoints/:instanceName', { schema: SCHEMAS.create }, async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = request.body;
    const parsed = await checkedWebhookSettings(body, 'endpoint', options.rules);
    const generated = body.secret === undefined ? newSecret() : undefined;
    // Created disabled, it is paused as the default webhook is (webhook-pause.ts).
    const at = { now: Date.now(), position: await context.store.lastPositionOf(instance.id) };
    const endpoint: WebhookEndpoint = {
      ...replacingWebhook(undefined, parsed, at),
      secret: generated ?? parsed.secret,
      id: `ep_${ulid()}`,
      description: description(body, null),
      createdAt: isoTime(Date.now()),
    };
    const updated = await book.editEndpoints(instance.id, (endpoints, fresh) => {
      if (endpoints.length >= maxEndpoints) throw new PomboError('POMBO_ERR_WEBHOOK_ENDPOINT_LIMIT', { instance: fresh.name, max: maxEndpoints });
      return [...endpoints, endpoint];
    });
    reply.code(201);
    // The only answer that shows a generated secret in full: `find` and `GET` mask it.
    return { ...(await show(updated.id, endpoint)), ...(generated ? { secret: generated } : {}) };
  });

  app.get<Named>('/webhook/endpoints/:instanceName', { schema: SCHEMAS.list }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const endpoints = endpointsOf(instance);
    // One read of the database for all of them (cluster mode: those other nodes run), not one each.
    const reports = await context.dispatcher.reportsOf(endpoints.map((endpoint) => endpointWebhook(instance.id, endpoint.id)));
    return { endpoints: endpoints.map((endpoint, i) => view(endpoint, reports[i] as DestinationReport)), max: maxEndpoints };
  });

  app.get<OneEndpoint>('/webhook/endpoints/:instanceName/:endpointId', { schema: SCHEMAS.get }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const endpoint = settingsOf({ instance, endpointId: request.params.endpointId }) as WebhookEndpoint;
    return show(instance.id, endpoint);
  });

  app.patch<OneEndpoint>('/webhook/endpoints/:instanceName/:endpointId', { schema: SCHEMAS.patch }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = request.body;
    const { endpointId } = request.params;
    // A URL kept as it was is not looked up again: it was checked when it was set, and each delivery checks it.
    await refuseResolvedUrl(body.url, 'endpoint.url', options.rules);
    // Read before the change: what the log stored until this request is not taken for what it stores after.
    const at = { now: Date.now(), position: await context.store.lastPositionOf(instance.id) };
    const { instance: updated, settings } = await book.edit(instance.id, endpointId, (current) => {
      const endpoint = current as WebhookEndpoint;
      const parsed = parseWebhookSettings({ ...asInput(endpoint), ...body }, 'endpoint', options.rules, endpoint);
      // A secret set by hand replaces the current one at once (rotate-secret is the way to overlap them).
      const replaced = body.secret !== undefined && parsed.secret !== endpoint.secret;
      // Disabled and enabled again by PATCH, it skips what was stored meanwhile, as /webhook/set does (webhook-pause.ts).
      const changed = { ...replacingWebhook(endpoint, { ...endpoint, ...parsed }, at), description: description(body, endpoint.description) };
      return replaced ? withPreviousSecrets(changed, []) : changed;
    });
    // Enabling one that Pombo disabled clears the mark and sends again what failed meanwhile.
    if (body.enabled === true && settings.disabledAt) {
      await enableWebhook(context, book, updated, endpointId);
      const fresh = context.instances.findById(updated.id) ?? updated;
      return show(fresh.id, settingsOf({ instance: fresh, endpointId }) as WebhookEndpoint);
    }
    return show(updated.id, settings as WebhookEndpoint);
  });

  app.delete<OneEndpoint>('/webhook/endpoints/:instanceName/:endpointId', { schema: SCHEMAS.delete }, async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const { endpointId } = request.params;
    await book.editEndpoints(instance.id, (endpoints, stored) => {
      settingsOf({ instance: stored, endpointId });
      return endpoints.filter((endpoint) => endpoint.id !== endpointId);
    });
    // The configuration no longer asks for it (its worker is stopping): its cursor and delivery log go too.
    await context.dispatcher.remove(endpointWebhook(instance.id, endpointId), { forget: true });
    reply.code(204);
  });
}
