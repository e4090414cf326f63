import type { FastifyInstance } from 'fastify';
import { eventName } from '../../core/event-names.ts';
import { excerpt, PomboError, validationError } from '../../core/errors.ts';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { eventKey, type Obj } from '../../core/validate.ts';
import type { DeliveryRecord, DeliveryStatus, Instance, StoredEvent } from '../../store/types.ts';
import { deadLetters, eventsByIds, MAX_REPLAY } from '../../delivery/dead-letters.ts';
import { filterPredicate } from '../../core/payload-filter.ts';
import { destinationOf, settingsOf, type WebhookRef } from './webhook-book.ts';
import type { WebhookSettings } from './webhook-config.ts';
import { apiSchema, instanceParams, PAGE_LIMIT, strictObject, stringField } from '../../core/schemas.ts';

type Named = { Params: { instanceName: string } };
type DeliveriesQuery = { Querystring: { status?: DeliveryStatus; event?: string; limit: number; after?: string; endpoint?: string } };
type EndpointQuery = { Querystring: { endpoint?: string } };

const PAGE = 500;
const STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed'];

const ENDPOINT = stringField("One of the instance's webhook endpoints (its id); the default webhook when missing.");

const deliveries = apiSchema({
  tag: 'Webhook',
  summary: "The instance webhook's delivery log",
  key: 'any',
  params: instanceParams,
  querystring: strictObject({
    status: {
      type: 'string',
      enum: [...STATUSES],
      'x-message': 'must be pending (waiting for a retry), delivered or failed (dead-lettered)',
      description: 'pending (waiting for a retry), delivered or failed (dead-lettered).',
    },
    event: stringField('One event name, in any form.'),
    limit: PAGE_LIMIT,
    after: stringField('An event id: the page starts after its delivery.'),
    endpoint: ENDPOINT,
  }),
});

const replay = apiSchema({
  tag: 'Webhook',
  summary: 'Send events to the instance webhook again',
  description: 'Exactly one of {"status": "failed"} (every dead letter), {"ids": [...]} or {"from", "to"} (a time range of the log).',
  key: 'any',
  params: instanceParams,
  querystring: strictObject({ endpoint: ENDPOINT }),
  body: strictObject({
    status: { type: 'string', 'x-message': 'must be "failed" (replays every dead-lettered delivery)', description: '"failed": replay every dead letter.' },
    ids: { type: 'array', description: `1 to ${MAX_REPLAY} event ids.` },
    from: stringField('An ISO 8601 time (default: the start of the log).'),
    to: stringField('An ISO 8601 time (default: now).'),
  }),
});

/** What to replay: every dead letter, chosen events, or a time range of the instance's log. */
type ReplaySelection = { kind: 'failed' } | { kind: 'ids'; ids: string[] } | { kind: 'range'; from: string; to: string };

const view = (record: DeliveryRecord) => ({
  id: record.eventId,
  event: eventName(record.event).dotted,
  status: record.status,
  nextAttemptAt: record.nextAttemptAt === null ? null : new Date(record.nextAttemptAt).toISOString(),
  attempts: record.attempts,
});

/** The body's `key` read as an ISO 8601 time and normalized (to UTC, with ms), `fallback` when absent; a 400 when not a time. */
function isoTimeFieldOr(body: Obj, key: string, fallback: string): string {
  const value = body[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
    throw validationError(`${key} must be an ISO 8601 time such as 2025-01-31T12:00:00Z`);
  }
  return new Date(value).toISOString();
}

function parseReplay(body: Obj): ReplaySelection {
  const forms = ['status', 'ids', 'from/to'].filter((form) => form.split('/').some((key) => body[key] !== undefined));
  if (forms.length !== 1) {
    throw validationError('send exactly one of {"status":"failed"}, {"ids":["evt_…"]} or {"from":"<ISO time>","to":"<ISO time>"}');
  }
  if (body.status !== undefined) {
    if (body.status !== 'failed') throw validationError('status must be "failed" (replays every dead-lettered delivery)');
    return { kind: 'failed' };
  }
  if (body.ids !== undefined) {
    const ids = body.ids;
    if (!Array.isArray(ids) || !ids.length || ids.length > MAX_REPLAY || ids.some((id) => typeof id !== 'string' || !id)) {
      throw validationError(`ids must be an array of 1 to ${MAX_REPLAY} event ids`);
    }
    return { kind: 'ids', ids: [...new Set(ids as string[])] };
  }
  const from = isoTimeFieldOr(body, 'from', new Date(0).toISOString());
  const to = isoTimeFieldOr(body, 'to', new Date().toISOString());
  if (from > to) throw validationError('from must not be later than to');
  return { kind: 'range', from, to };
}

/** Which webhook a route acts on: the default one, or the endpoint named by the `endpoint` query parameter. */
export function webhookRef(instance: Instance, endpoint: string | undefined): WebhookRef {
  const ref = { instance, endpointId: endpoint === undefined || endpoint === '' ? null : endpoint };
  settingsOf(ref);
  return ref;
}

/** The delivery log and replay of an instance's webhooks. */
export function webhookRoutes(app: FastifyInstance, context: AppContext): void {
  const { store, dispatcher } = context;

  /** The position of one of the instance's retained events, for paging with `after`. */
  async function positionOf(instance: Instance, id: string): Promise<number> {
    const [event] = await store.getByIds([id]);
    if (!event || event.instanceId !== instance.id) {
      throw validationError(`after="${excerpt(id)}" is not an event of "${instance.name}" that is still retained`);
    }
    return event.pos;
  }

  /** The instance's events in a time range that the webhook's `events` list and payload filter select. */
  async function inRange(instance: Instance, webhook: WebhookSettings, from: string, to: string): Promise<StoredEvent[]> {
    const { events } = webhook;
    const passes = filterPredicate(webhook.filter);
    const found: StoredEvent[] = [];
    let afterPos = 0;
    while (found.length <= MAX_REPLAY) {
      const page = await store.read({
        instanceId: instance.id,
        fromTime: from,
        toTime: to,
        afterPos,
        limit: PAGE,
        events,
      });
      found.push(...(passes ? page.filter(passes) : page));
      afterPos = page.at(-1)?.pos ?? afterPos;
      if (page.length < PAGE) break;
    }
    return found;
  }

  app.get<Named & DeliveriesQuery>('/webhook/deliveries/:instanceName', { schema: deliveries }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const { status, event, after, limit } = request.query;
    const destination = destinationOf(webhookRef(instance, request.query.endpoint));
    const records = await store.listDeliveries({
      destination,
      limit,
      afterPos: after ? await positionOf(instance, after) : 0,
      ...(status ? { status } : {}),
      ...(event ? { event: eventKey(event, 'event') } : {}),
    });
    return { deliveries: records.map(view), next: records.length === limit ? (records.at(-1)?.eventId ?? null) : null };
  });

  app.post<Named & EndpointQuery & { Body: Obj }>('/webhook/replay/:instanceName', { schema: replay }, async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const selection = parseReplay(request.body);
    const ref = webhookRef(instance, request.query.endpoint);
    const webhook = settingsOf(ref);
    const destination = destinationOf(ref);
    if (!webhook?.enabled || !webhook.url || !dispatcher.has(destination)) {
      if (ref.endpointId === null) throw new PomboError('POMBO_ERR_WEBHOOK_NOT_SET', { instance: instance.name });
      throw new PomboError('POMBO_ERR_WEBHOOK_ENDPOINT_DISABLED', { instance: instance.name, endpoint: ref.endpointId });
    }
    let events: StoredEvent[];
    let notFound: string[] | undefined;
    if (selection.kind === 'failed') events = await deadLetters(store, destination);
    else if (selection.kind === 'range') {
      events = await inRange(instance, webhook, selection.from, selection.to);
    } else {
      events = (await eventsByIds(store, selection.ids)).filter((event) => event.instanceId === instance.id);
      const found = new Set(events.map((event) => event.id));
      notFound = selection.ids.filter((id) => !found.has(id));
    }
    const truncated = events.length > MAX_REPLAY;
    const selected = events.slice(0, MAX_REPLAY);
    const replayed = await dispatcher.replay(destination, selected);
    reply.code(202);
    return { replayed, selected: selected.length, truncated, ...(notFound ? { notFound } : {}) };
  });
}
