import type { FastifyInstance } from 'fastify';
import { validationError } from '../../core/errors.ts';
import { SANDBOX_TEXT_MAX } from '../../sources/sandbox/sandbox-network.ts';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { oneOf, optionalString, phone, string, type Obj } from '../../core/validate.ts';
import { apiSchema, instanceParams, nullable, strictObject, stringField, type JsonSchema } from '../../core/schemas.ts';

type Named = { Params: { instanceName: string } };

/** WhatsApp's own limits: a text of 65,536 characters, a group subject of 100. */
const SUBJECT_MAX = 100;
const NAME_MAX = 255;

const PHONE: JsonSchema = {
  type: 'string',
  'x-message': 'must be a phone number with its country code (8 to 15 digits, e.g. 5511999990000) or a JID such as 5511999990000@s.whatsapp.net',
  description: 'A phone number with its country code (+, spaces, dots, dashes and parentheses ignored) or a JID.',
  example: '5511999990000',
};
const PARTICIPANTS: JsonSchema = { type: 'array', items: { type: 'string' }, description: 'Phone numbers or JIDs.', example: ['5511999990000'] };
const NON_EMPTY = 'is required and must be a non-empty string';

/** Case-insensitive choices (Evolution API accepts any case): listed here, matched in code. */
const choice = (values: readonly string[], description: string): JsonSchema => ({ type: 'string', description: `${description}: ${values.join(', ')} (any case).` });
const MEDIA_TYPES = ['image', 'video', 'audio', 'document'] as const;
const PRESENCES = ['available', 'unavailable', 'composing', 'recording', 'paused'] as const;
const ACTIONS = ['add', 'remove', 'promote', 'demote'] as const;

const sandboxSchema = (summary: string, body: JsonSchema, querystring?: JsonSchema) =>
  apiSchema({ tag: 'Sandbox', summary, key: 'any', params: instanceParams, body, ...(querystring ? { querystring } : {}) });

const SCHEMAS = {
  sendText: sandboxSchema(
    'Send a text message',
    strictObject({ number: PHONE, text: { type: 'string', 'x-message': NON_EMPTY, description: 'The message.' } }, ['number', 'text']),
  ),
  sendMedia: sandboxSchema(
    'Send an image, video, audio or document',
    strictObject(
      {
        number: PHONE,
        mediatype: { ...choice(MEDIA_TYPES, 'One of'), 'x-message': 'is required: image, video, audio or document' },
        media: { type: 'string', 'x-message': NON_EMPTY, description: 'An http(s) URL (referenced, never fetched) or the file in base64.' },
        mimetype: nullable(stringField('The media type, e.g. image/png.')),
        caption: nullable(stringField('A caption.')),
        fileName: nullable(stringField("The file's name.")),
      },
      ['number', 'mediatype', 'media'],
    ),
  ),
  sendPresence: sandboxSchema(
    'Send a presence (typing, recording, …) to a chat',
    strictObject({ number: PHONE, presence: nullable(choice(PRESENCES, 'One of')) }, ['number']),
  ),
  setPresence: sandboxSchema(
    "Set the instance's own presence",
    strictObject({ presence: { ...choice(PRESENCES, 'One of'), 'x-message': 'is required: available, unavailable, composing, recording or paused' } }, ['presence']),
  ),
  createGroup: sandboxSchema(
    'Create a group',
    strictObject({ subject: { type: 'string', 'x-message': NON_EMPTY, description: "The group's name." }, participants: PARTICIPANTS }, ['subject', 'participants']),
  ),
  updateParticipant: sandboxSchema(
    "Change a group's participants",
    strictObject({ action: { ...choice(ACTIONS, 'One of'), 'x-message': 'is required: add, remove, promote or demote' }, participants: PARTICIPANTS }, ['action', 'participants']),
    strictObject(
      { groupJid: stringField('The group, e.g. 120363…@g.us.', { 'x-message': 'is required (e.g. ?groupJid=120363…@g.us)' }) },
      ['groupJid'],
    ),
  ),
};

/** A list of phone numbers, no longer than a group may be (checked before a single number is looked at). */
const numbers = (value: unknown, path: string, max: number): string[] => {
  const list = value as unknown[];
  if (list.length > max) throw validationError(`${path} holds ${list.length} numbers; a group has at most ${max} participants (SANDBOX_GROUP_MAX_PARTICIPANTS)`);
  return list.map((item, index) => phone(item, `${path}[${index}]`));
};

/** Evolution API's message, chat and group routes, served by the sandbox network. */
export function sandboxRoutes(app: FastifyInstance, context: AppContext): void {
  const { sandbox } = context;

  app.post<Named>('/message/sendText/:instanceName', { schema: SCHEMAS.sendText }, async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = request.body as Obj;
    const sent = await sandbox.sendText(instance, phone(body.number, 'number'), string(body, 'text', 'text', SANDBOX_TEXT_MAX));
    reply.code(201);
    return sent;
  });

  app.post<Named>('/message/sendMedia/:instanceName', { schema: SCHEMAS.sendMedia }, async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = request.body as Obj;
    const sent = await sandbox.sendMedia(instance, phone(body.number, 'number'), {
      mediatype: oneOf(body, 'mediatype', MEDIA_TYPES, 'image'),
      mimetype: optionalString(body, 'mimetype', 'mimetype', NAME_MAX),
      caption: optionalString(body, 'caption', 'caption', SANDBOX_TEXT_MAX),
      fileName: optionalString(body, 'fileName', 'fileName', NAME_MAX),
      media: string(body, 'media'),
    });
    reply.code(201);
    return sent;
  });

  app.post<Named>('/chat/sendPresence/:instanceName', { schema: SCHEMAS.sendPresence }, async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = request.body as Obj;
    const presence = oneOf(body, 'presence', PRESENCES, 'available');
    await sandbox.sendPresence(instance, phone(body.number, 'number'), presence);
    reply.code(201);
    return { presence };
  });

  // Evolution API's instance route: answers the presence set (201), as Evolution API does.
  app.post<Named>('/instance/setPresence/:instanceName', { schema: SCHEMAS.setPresence }, async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const presence = oneOf(request.body as Obj, 'presence', PRESENCES, 'available');
    sandbox.setPresence(instance);
    reply.code(201);
    return { presence };
  });

  app.post<Named>('/group/create/:instanceName', { schema: SCHEMAS.createGroup }, async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = request.body as Obj;
    const group = await sandbox.createGroup(instance, string(body, 'subject', 'subject', SUBJECT_MAX), numbers(body.participants, 'participants', sandbox.limits.maxParticipants));
    reply.code(201);
    return group;
  });

  app.post<Named & { Querystring: { groupJid: string } }>('/group/updateParticipant/:instanceName', { schema: SCHEMAS.updateParticipant }, async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = request.body as Obj;
    const action = oneOf(body, 'action', ACTIONS, 'add');
    const result = await sandbox.updateParticipants(instance, request.query.groupJid, action, numbers(body.participants, 'participants', sandbox.limits.maxParticipants));
    reply.code(201);
    return result;
  });
}
