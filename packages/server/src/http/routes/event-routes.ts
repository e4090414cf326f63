import type { FastifyInstance } from 'fastify';
import { envelopeOf } from '../../core/envelope.ts';
import { PomboError, validationError, excerpt } from '../../core/errors.ts';
import { isSandboxed } from '../../instances/integration.ts';
import { type IngestItem, parseIngestBody } from '../../sources/ingest/ingest-body.ts';
import { requestFingerprint } from '../../sources/ingest/request-fingerprint.ts';
import { IdempotencyKeyTakenError } from '../../store/idempotency-key-taken-error.ts';
import { NumberTakenError } from '../../instances/number-taken-error.ts';
import type { Instance, KeyClaim, StoredEvent } from '../../store/types.ts';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { eventKey, eventListLength } from '../../core/validate.ts';
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
    const header = request.headers['idempotency-key'];
    const key = typeof header === 'string' ? header : undefined;
    const length = Number(request.headers['content-length']);
    const limits = { maxDataBytes: context.config.limits.eventMaxDataBytes, bodyBytes: Number.isFinite(length) ? length : undefined };
    const { items, batch } = parseIngestBody(request.body, instance.name, limits, key);
    const sender = senderOf(context, instance, items);
    checkIdentity(instance, items);
    const claim = key === undefined ? undefined : { instanceId: instance.id, key, fingerprint: requestFingerprint(items, batch) };
    if (sender) {
      // The number is written before the append, which stores it as the events' sender: a request
      // the append would refuse for its key must not get that far.
      if (claim) await refuseTakenKey(context, claim, items, batch);
      instance = await instances.update(instance, { ownerJid: sender });
    }
    const results = await instances.emitMany(instance, items, 'ingest', claim).catch(async (error: unknown) => {
      throw error instanceof IdempotencyKeyTakenError ? await keyRefusal(context, items, batch, error) : error;
    });
    if (!isSandboxed(instance.integration)) await followConnection(context, instance.name, items);
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
      throw new PomboError('POMBO_ERR_NOT_FOUND', { resource: `Event "${excerpt(request.params.eventId)}" of "${instance.name}" (or it is no longer retained)` });
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
        throw validationError(`after="${excerpt(after)}" is not an event of "${instance.name}" that is still retained`);
      }
      afterPos = anchor.pos;
    }
    const listed = events?.split(',');
    if (listed) eventListLength(listed, 'events');
    const names = listed?.map((name, index) => eventKey(name.trim(), `events[${index}]`));
    const read = await store.read({ afterPos, instanceId: instance.id, limit, ...(names ? { events: names } : {}) });
    const page = withinBudget(read);
    return {
      events: page.map((event) => ({ ...envelopeOf(event, context.envelope), seq: event.seq })),
      next: page.length === limit || page.length < read.length ? page.at(-1)?.id : null,
    };
  });
}

/** Bytes of event data one page of `GET /events` carries at most (one event always fits): pages of large events stay answerable. */
const PAGE_BYTES = 16 * 1024 * 1024;

function withinBudget(events: readonly StoredEvent[]): readonly StoredEvent[] {
  let bytes = 0;
  for (let index = 0; index < events.length; index++) {
    bytes += (events[index] as StoredEvent).dataJson.length;
    if (bytes > PAGE_BYTES && index > 0) return events.slice(0, index);
  }
  return events;
}

/**
 * The JID the producer says the instance is. It may not be another instance's: that would make its
 * events speak for that number (and, were it a sandbox instance, take over its messages).
 */
function senderOf(context: AppContext, instance: Instance, items: readonly IngestItem[]): string | undefined {
  const senders = new Set(items.map((item) => item.sender).filter((sender): sender is string => sender !== undefined));
  if (senders.size > 1) throw validationError('the events of one request name different senders: one instance is one number');
  const [sender] = senders;
  if (sender === undefined || sender === instance.ownerJid) return undefined;
  if (isSandboxed(instance.integration)) {
    throw validationError(`sender is "${excerpt(sender)}", but the sandbox gives "${instance.name}" its number (${instance.ownerJid ?? 'none yet: connect it'}); ingested events cannot change it`);
  }
  const holder = context.instances.ownerOf(sender);
  if (holder && holder.id !== instance.id) throw new NumberTakenError(instance, sender);
  return sender;
}

/** Whether a stored event is the one a request's item describes: the same name and data. */
const sameEvent = (stored: StoredEvent, item: IngestItem): boolean => stored.event === item.event && stored.dataJson === JSON.stringify(item.data ?? null);

const howDiffers = (stored: StoredEvent, item: IngestItem): string => (stored.event === item.event ? 'its data' : `its name (${stored.event} then, ${item.event} now)`);

const NEW_KEY = 'a retry must send the same events, and a new request needs a new key';

/** What a refusal for a taken key says: the store's (IdempotencyKeyTakenError), or the look-up's before anything is written. */
type KeyRefused = Pick<IdempotencyKeyTakenError, 'key' | 'eventIds' | 'concurrent'>;

/** How an error names one event of the request. */
const eventOf = (batch: boolean, index: number): string => (batch ? `events[${index}]` : 'the event');

/**
 * Refuses, as the append would, a request whose Idempotency-Key another request holds, before the
 * request changes anything. A look-up, not a claim: the append's claim stays the guard, so of two
 * requests racing with one key, the one refused may still have set the instance's number.
 */
async function refuseTakenKey(context: AppContext, claim: KeyClaim, items: readonly IngestItem[], batch: boolean): Promise<void> {
  const holder = await context.store.keyHolder(claim.instanceId, claim.key);
  if (holder && holder.fingerprint !== claim.fingerprint) {
    throw await keyRefusal(context, items, batch, { key: claim.key, eventIds: holder.eventIds, concurrent: false });
  }
}

/**
 * The answer to a request whose Idempotency-Key another request holds, of which the store appended
 * nothing (as the IETF draft on the header asks: a changed event under the old key would otherwise be
 * answered with the first request's as a duplicate, and lost). 422 when the other request was stored
 * before this one came to be written, 409 when both were written at once.
 */
async function keyRefusal(context: AppContext, items: readonly IngestItem[], batch: boolean, taken: KeyRefused): Promise<PomboError> {
  const stored = new Map((await context.store.getByIds(taken.eventIds)).map((event) => [event.id, event]));
  const storedAs = taken.concurrent ? 'the one the other request stored as' : 'the one stored as';
  const detail = `${differenceOf(items, batch, taken.eventIds, stored, storedAs)}; ${taken.concurrent ? 'nothing of this request was stored; ' : ''}${NEW_KEY}`;
  return new PomboError(taken.concurrent ? 'POMBO_ERR_IDEMPOTENCY_KEY_CONFLICT' : 'POMBO_ERR_IDEMPOTENCY_KEY_REUSED', { key: excerpt(taken.key), detail });
}

/**
 * The first difference from the request that holds the key that a person can act on: an event of
 * another name or other data at the same place (while retention keeps the first one), or a length.
 */
function differenceOf(items: readonly IngestItem[], batch: boolean, firstIds: readonly string[], stored: ReadonlyMap<string, StoredEvent>, storedAs: string): string {
  for (const [index, item] of items.entries()) {
    const first = stored.get(firstIds[index] ?? '');
    if (first && !sameEvent(first, item)) return `${eventOf(batch, index)} differs in ${howDiffers(first, item)} from ${storedAs} ${first.id}`;
  }
  if (items.length > firstIds.length) return `${eventOf(batch, firstIds.length)} was not in the request first sent under it, which had fewer events`;
  if (items.length < firstIds.length) return `the request first sent under it had ${firstIds.length} events, this one has ${items.length}`;
  return 'it is not the request first sent under it (compared event by event: name, data and `id`, and whether it is a batch)';
}

/**
 * The sandbox reports what its own instances are, from their logs after a restart: their connection, and
 * the groups they are in (their members and admins). Ingested, those would let a tenant move its state
 * or make itself an admin of another tenant's group.
 */
const SANDBOX_OWN: ReadonlyMap<string, string> = new Map([
  ['CONNECTION_UPDATE', 'the sandbox reports its connection, so CONNECTION_UPDATE cannot be ingested for it (use /instance/connect and /instance/logout)'],
  ['GROUPS_UPSERT', 'the sandbox reports its groups, so GROUPS_UPSERT cannot be ingested for it (use /group/create)'],
  ['GROUPS_UPDATE', 'the sandbox reports its groups, so GROUPS_UPDATE cannot be ingested for it'],
  ['GROUP_PARTICIPANTS_UPDATE', 'the sandbox reports its groups, so GROUP_PARTICIPANTS_UPDATE cannot be ingested for it (use /group/updateParticipant)'],
]);

function checkIdentity(instance: Instance, items: readonly IngestItem[]): void {
  if (!isSandboxed(instance.integration)) return;
  const refused = items.find((item) => SANDBOX_OWN.has(item.event));
  if (refused) throw validationError(`"${instance.name}" is a sandbox instance: ${SANDBOX_OWN.get(refused.event)}`);
}

/** An ingested CONNECTION_UPDATE moves the instance's state, so `connectionState` tells the truth. */
async function followConnection(context: AppContext, name: string, items: readonly IngestItem[]) {
  const last = items.filter((item) => item.event === 'CONNECTION_UPDATE').at(-1);
  const state = (last?.data as { state?: unknown } | null)?.state;
  if (state === 'open' || state === 'close' || state === 'connecting') {
    await context.instances.update(context.instances.get(name), { state });
  }
}
