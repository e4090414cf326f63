import type { FastifyInstance } from 'fastify';
import { validationError } from '../../core/errors.ts';
import { chatList } from '../../log-views/chat-list.ts';
import { groupList, type GroupView } from '../../log-views/group-list.ts';
import { messageRecords, type MessageRecord } from '../../log-views/message-records.ts';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { apiSchema, booleanField, instanceParams, strictObject, stringField, type JsonSchema } from '../../core/schemas.ts';
import { object, optionalBoolean, optionalInteger, optionalObject, optionalString, type Obj } from '../../core/validate.ts';

type Named = { Params: { instanceName: string } };

/** Page sizes of the list routes: Evolution API's default, and the most one request answers. */
const DEFAULT_MESSAGES_PAGE = 50;
const MAX_PAGE = 1000;

/** A time bound of `where.messageTimestamp`: a date (ISO text or milliseconds), in seconds as messages keep it. */
function secondsOf(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw validationError(`${path} must be a date, e.g. "2025-01-31T12:00:00Z"`);
  return Math.floor(ms / 1000);
}

/** `where` of `findMessages`, as Evolution API filters its Message rows. */
function messageFilter(body: Obj): (record: MessageRecord) => boolean {
  const where = optionalObject(body, 'where') ?? {};
  const key = optionalObject(where, 'key', 'where.key') ?? {};
  const id = optionalString(key, 'id', 'where.key.id');
  const remoteJid = optionalString(key, 'remoteJid', 'where.key.remoteJid');
  const participant = optionalString(key, 'participant', 'where.key.participant');
  const fromMe = optionalBoolean(key, 'fromMe', 'where.key.fromMe');
  const recordId = optionalString(where, 'id', 'where.id');
  const messageType = optionalString(where, 'messageType', 'where.messageType');
  const source = optionalString(where, 'source', 'where.source');
  const time = optionalObject(where, 'messageTimestamp', 'where.messageTimestamp') ?? {};
  const gte = secondsOf(time.gte, 'where.messageTimestamp.gte');
  const lte = secondsOf(time.lte, 'where.messageTimestamp.lte');
  return (record) =>
    (id === undefined || record.key.id === id) &&
    (remoteJid === undefined || record.key.remoteJid === remoteJid) &&
    (participant === undefined || record.key.participant === participant) &&
    (fromMe === undefined || (record.key.fromMe === true) === fromMe) &&
    (recordId === undefined || record.id === recordId) &&
    (messageType === undefined || record.messageType === messageType) &&
    (source === undefined || record.source === source) &&
    (gte === undefined || record.messageTimestamp >= gte) &&
    (lte === undefined || record.messageTimestamp <= lte);
}

const DATE: JsonSchema = {
  type: ['string', 'integer'],
  description: 'A date: ISO 8601 text or milliseconds since the epoch.',
  example: '2025-01-31T12:00:00Z',
};
const pageSize = (description: string): JsonSchema => ({ type: 'integer', minimum: 1, maximum: MAX_PAGE, description });

const chatSchema = (summary: string, more: { body?: JsonSchema; querystring?: JsonSchema }) =>
  apiSchema({ tag: 'Chats', summary, key: 'any', params: instanceParams, ...more });

const SCHEMAS = {
  findMessages: chatSchema('List messages, newest first, a page at a time', {
    body: strictObject({
      where: strictObject({
        key: strictObject({
          id: stringField("The message's id."),
          remoteJid: stringField('The chat: a JID such as 5511999990000@s.whatsapp.net or 120363…@g.us.'),
          participant: stringField("A group message's sender."),
          fromMe: booleanField('Only messages the instance sent (true) or received (false).'),
        }),
        id: stringField("The record's id (the event's, evt_…)."),
        messageType: stringField('conversation, imageMessage, …'),
        source: stringField('Where the message was written, e.g. sandbox.'),
        messageTimestamp: strictObject({ gte: DATE, lte: DATE }),
      }),
      offset: pageSize(`Messages per page (Evolution API's name); default ${DEFAULT_MESSAGES_PAGE}.`),
      page: { type: 'integer', minimum: 1, description: 'The page to answer, from 1; default 1.' },
    }),
  }),
  findChats: chatSchema('List chats, newest first', {
    body: strictObject({
      where: strictObject({ remoteJid: stringField('Only this chat.') }),
      skip: { type: 'integer', minimum: 0, description: 'Chats to skip; default 0.' },
      take: pageSize(`Chats to answer; default ${MAX_PAGE}.`),
    }),
  }),
  fetchAllGroups: chatSchema("List the groups the instance's number is in", {
    querystring: strictObject({
      getParticipants: {
        type: 'string',
        enum: ['true', 'false'],
        'x-message': 'must be true or false (e.g. ?getParticipants=false)',
        description: 'Whether each group lists its participants; default false.',
      },
    }),
  }),
};

const bodyOf = (body: unknown): Obj => (body === undefined || body === null ? {} : object(body, 'body'));

const participantsParam = (value: string | undefined): boolean => {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw validationError('getParticipants must be true or false (e.g. ?getParticipants=false)');
};

/**
 * Evolution API's read routes that clients call at start-up, answered from the instance's retained
 * log (whatever its source: sandbox or ingest) in Evolution's shapes.
 */
export function chatRoutes(app: FastifyInstance, context: AppContext): void {
  const { store } = context;

  app.post<Named>('/chat/findMessages/:instanceName', { schema: SCHEMAS.findMessages }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = bodyOf(request.body);
    const keep = messageFilter(body);
    const size = optionalInteger(body, 'offset', 1, MAX_PAGE) ?? DEFAULT_MESSAGES_PAGE;
    const page = optionalInteger(body, 'page', 1, Number.MAX_SAFE_INTEGER) ?? 1;
    const matching = (await messageRecords(store, instance)).filter(keep);
    return {
      messages: {
        total: matching.length,
        pages: Math.ceil(matching.length / size),
        currentPage: page,
        records: matching.slice((page - 1) * size, page * size),
      },
    };
  });

  app.post<Named>('/chat/findChats/:instanceName', { schema: SCHEMAS.findChats }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = bodyOf(request.body);
    const where = optionalObject(body, 'where') ?? {};
    const remoteJid = optionalString(where, 'remoteJid', 'where.remoteJid');
    const take = optionalInteger(body, 'take', 1, MAX_PAGE) ?? MAX_PAGE;
    const skip = optionalInteger(body, 'skip', 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const [records, groups] = await Promise.all([messageRecords(store, instance), groupList(store, instance)]);
    const subjects = new Map(groups.map((group) => [group.id, group.subject]));
    return chatList(records, subjects)
      .filter((chat) => remoteJid === undefined || chat.remoteJid === remoteJid)
      .slice(skip, skip + take);
  });

  app.get<Named & { Querystring: { getParticipants?: string } }>('/group/fetchAllGroups/:instanceName', { schema: SCHEMAS.fetchAllGroups }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const withParticipants = participantsParam(request.query.getParticipants);
    const groups = await groupList(store, instance);
    return groups.map(({ participants, ...group }): Partial<GroupView> => (withParticipants ? { ...group, participants } : group));
  });
}
