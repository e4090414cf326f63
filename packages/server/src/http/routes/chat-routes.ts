import type { FastifyInstance } from 'fastify';
import { validationError } from '../../core/errors.ts';
import { chatList } from '../../log-views/chat-list.ts';
import { groupList, type GroupView } from '../../log-views/group-list.ts';
import { messageRecords, type MessageRecord } from '../../log-views/message-records.ts';
import { type AppContext, authorizedInstance } from '../app-context.ts';
import { object, optionalBoolean, optionalInteger, optionalObject, optionalString, type Obj } from '../validate.ts';

type Named = { Params: { instanceName: string } };

/** Page sizes of the list routes: Evolution API's default, and the most one request answers. */
export const DEFAULT_MESSAGES_PAGE = 50;
export const MAX_PAGE = 1000;

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

  app.post<Named>('/chat/findMessages/:instanceName', async (request) => {
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

  app.post<Named>('/chat/findChats/:instanceName', async (request) => {
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

  app.get<Named & { Querystring: { getParticipants?: string } }>('/group/fetchAllGroups/:instanceName', async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const withParticipants = participantsParam(request.query.getParticipants);
    const groups = await groupList(store, instance);
    return groups.map(({ participants, ...group }): Partial<GroupView> => (withParticipants ? { ...group, participants } : group));
  });
}
