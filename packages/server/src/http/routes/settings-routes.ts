import type { FastifyInstance } from 'fastify';
import { parseSettings, SETTINGS_FIELDS, SETTINGS_KEY, settingsOf } from '../../instances/instance-settings.ts';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { apiSchema, instanceParams, strictObject } from '../../core/schemas.ts';
import { object } from '../../core/validate.ts';

const SCHEMAS = {
  find: apiSchema({ tag: 'Instances', summary: "An instance's settings (Evolution API's)", key: 'any', params: instanceParams }),
  set: apiSchema({
    tag: 'Instances',
    summary: "Change an instance's settings (the fields given)",
    key: 'any',
    params: instanceParams,
    body: strictObject(SETTINGS_FIELDS),
  }),
};

type Named = { Params: { instanceName: string } };

/**
 * Evolution API's instance settings (reject calls, ignore groups, always online, …): kept with the
 * instance and answered as Evolution does. Pombo's sources do not act on them.
 */
export function settingsRoutes(app: FastifyInstance, context: AppContext): void {
  app.get<Named>('/settings/find/:instanceName', { schema: SCHEMAS.find }, async (request) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    return settingsOf(instance);
  });

  app.post<Named>('/settings/set/:instanceName', { schema: SCHEMAS.set }, async (request, reply) => {
    const instance = authorizedInstance(context, request, request.params.instanceName);
    const body = object(request.body, 'body');
    // Over the settings as stored now: a change of other fields, made meanwhile here or on another node, is kept.
    const updated = await context.instances.editChannels(instance.id, (stored) => ({ [SETTINGS_KEY]: parseSettings(body, settingsOf(stored)) }));
    const settings = settingsOf(updated);
    reply.code(201);
    return { settings: { instanceName: instance.name, instanceId: instance.id, settings } };
  });
}
