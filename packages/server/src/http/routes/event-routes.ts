import type { FastifyInstance } from 'fastify';
import { envelopeOf } from '../../core/envelope.ts';
import { PomboError, validationError } from '../../core/errors.ts';
import { parseIngestBody } from '../../sources/ingest/ingest-body.ts';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { eventKey } from '../../core/validate.ts';
import { apiSchema, instanceNameParam, instanceParams, PAGE_LIMIT, strictObject, stringField } from '../../core/schemas.ts';
import { INGEST_BODY_SCHEMA } from '../../sources/ingest/ingest-body.ts';

type Named = { Params: { instanceName: string } };

const ingest = apiSchema({
  tag: 'Events',
  summary: "Append events to an instance's log (one, or a batch of up to 1000)",
  description: 'Idempotent: an event\'s `id`, the Idempotency-Key header, or (for an Evolution payload) its digest make a retry a duplicate.',
  key: 'any',
  params: instanceParams,
  body: INGEST_BODY_SCHEMA,
});

const oneEvent = apiSchema({
  tag: 'Events',
  summary: 'One retained event by id',
  key: 'any',
  params: strictObject({ instanceName: instanceNameParam, eventId: stringField('An event id (evt_…).') }, ['instanceName', 'eventId']),
});

const page = apiSchema({
  tag: 'Events',
  summary: "Page through an instance's retained log, oldest first",
  key: 'any',
  params: instanceParams,
  querystring: strictObject({
    after: stringField('An event id of this instance: the page starts after it.'),
    limit: PAGE_LIMIT,
    events: stringField('Comma list of event names in any form (messages.upsert,SEND_MESSAGE).'),
  }),
});

/** The ingest API (producers push events in) and the paged read of the retained log. */
export function eventRoutes(app: FastifyInstance, context: AppContext): void {
  const { instances, store } = context;

  app.post<Named>('/events/:instanceName', { schema: ingest }, async (request, reply) => {
    let instance = authorizedInstance(context, request, request.params.instanceName);
    const idempotencyKey = request.headers['idempotency-key'];
    const { items, batch } = parseIngestBody(request.body, instance.name, typeof idempotencyKey === 'string' ? idempotencyKey : undefined);
    const sender = items.find((item) => item.sender)?.sender;
    if (sender && sender !== instance.ownerJid) instance = await instances.update(instance, { ownerJid: sender });
    const results = await instances.emitMany(instance, items, 'ingest');
    await followConnection(context, instance.name, items);
    const view = results.map(({ event, duplicate }) => ({ id: event.id, seq: event.seq, event: event.event, duplicate }));
    const fresh = results.filter((result) => !result.duplicate).length;
    reply.code(fresh > 0 ? 201 : 200);
    return batch ? { appended: fresh, duplicates: results.length - fresh, events: view } : view[0];
  });

  // One event by id: where the compact references of size-limited channels (SQS, Pusher, Kafka) point.
  app.get<{ Params: { instanceName: string; eventId: string } }>('/events/:instanceName/:eventId', { schema: oneEvent }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const [event] = await store.getByIds([request.params.eventId]);
    if (!event || event.instanceId !== instance.id) {
      throw new PomboError('POMBO_ERR_NOT_FOUND', { resource: `Event "${request.params.eventId}" of "${instance.name}" (or it is no longer retained)` });
    }
    return { ...envelopeOf(event, context.envelope), seq: event.seq };
  });

  app.get<Named & { Querystring: { after?: string; limit: number; events?: string } }>('/events/:instanceName', { schema: page }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const { after, events, limit } = request.query;
    let afterPos = 0;
    if (after) {
      const [anchor] = await store.getByIds([after]);
      if (!anchor || anchor.instanceId !== instance.id) {
        throw validationError(`after="${after}" is not an event of "${instance.name}" that is still retained`);
      }
      afterPos = anchor.pos;
    }
    const names = events ? events.split(',').map((name, index) => eventKey(name.trim(), `events[${index}]`)) : undefined;
    const page = await store.read({ afterPos, instanceId: instance.id, limit, ...(names ? { events: names } : {}) });
    return {
      events: page.map((event) => ({ ...envelopeOf(event, context.envelope), seq: event.seq })),
      next: page.length === limit ? page.at(-1)?.id : null,
    };
  });
}

/** An ingested CONNECTION_UPDATE moves the instance's state, so `connectionState` tells the truth. */
async function followConnection(context: AppContext, name: string, items: ReturnType<typeof parseIngestBody>['items']) {
  const last = items.filter((item) => item.event === 'CONNECTION_UPDATE').at(-1);
  const state = (last?.data as { state?: unknown } | null)?.state;
  if (state === 'open' || state === 'close' || state === 'connecting') {
    await context.instances.update(context.instances.get(name), { state });
  }
}
