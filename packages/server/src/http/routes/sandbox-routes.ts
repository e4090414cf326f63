import type { FastifyInstance } from 'fastify';
import { validationError } from '../../core/errors.ts';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { object, oneOf, optionalString, phone, string } from '../../core/validate.ts';

type Named = { Params: { instanceName: string } };

const numbers = (value: unknown, path: string): string[] => {
  if (!Array.isArray(value)) throw validationError(`${path} must be an array of phone numbers`);
  return value.map((item, index) => phone(item, `${path}[${index}]`));
};

/** Evolution API's message, chat and group routes, served by the sandbox network. */
export function sandboxRoutes(app: FastifyInstance, context: AppContext): void {
  const { sandbox } = context;

  app.post<Named>('/message/sendText/:instanceName', async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = object(request.body, 'body');
    const sent = await sandbox.sendText(instance, phone(body.number, 'number'), string(body, 'text'));
    reply.code(201);
    return sent;
  });

  app.post<Named>('/message/sendMedia/:instanceName', async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = object(request.body, 'body');
    if (body.mediatype === undefined) throw validationError('mediatype is required: image, video, audio or document');
    const sent = await sandbox.sendMedia(instance, phone(body.number, 'number'), {
      mediatype: oneOf(body, 'mediatype', ['image', 'video', 'audio', 'document'] as const, 'image'),
      mimetype: optionalString(body, 'mimetype'),
      caption: optionalString(body, 'caption'),
      fileName: optionalString(body, 'fileName'),
      media: string(body, 'media'),
    });
    reply.code(201);
    return sent;
  });

  app.post<Named>('/chat/sendPresence/:instanceName', async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = object(request.body, 'body');
    const presence = oneOf(body, 'presence', ['available', 'unavailable', 'composing', 'recording', 'paused'] as const, 'available');
    await sandbox.sendPresence(instance, phone(body.number, 'number'), presence);
    reply.code(201);
    return { presence };
  });

  app.post<Named>('/group/create/:instanceName', async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = object(request.body, 'body');
    const group = await sandbox.createGroup(instance, string(body, 'subject'), numbers(body.participants, 'participants'));
    reply.code(201);
    return group;
  });

  app.post<Named & { Querystring: { groupJid?: string } }>('/group/updateParticipant/:instanceName', async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = object(request.body, 'body');
    const groupJid = request.query.groupJid;
    if (!groupJid) throw validationError('the groupJid query parameter is required (e.g. ?groupJid=120363…@g.us)');
    const action = oneOf(body, 'action', ['add', 'remove', 'promote', 'demote'] as const, 'add');
    if (body.action === undefined) throw validationError('action is required: add, remove, promote or demote');
    const result = await sandbox.updateParticipants(instance, groupJid, action, numbers(body.participants, 'participants'));
    reply.code(201);
    return result;
  });
}
