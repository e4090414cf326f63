import type { FastifyInstance } from 'fastify';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { apiSchema, instanceParams, strictObject } from '../../core/schemas.ts';

type Named = { Params: { instanceName: string } };
type SetBody = Named & { Body: Record<string, Record<string, unknown>> };

/** `POST /<channel>/set/:instanceName` and `GET /<channel>/find/:instanceName` for every channel, as in Evolution API. */
export function channelConfigRoutes(app: FastifyInstance, context: AppContext): void {
  for (const module of context.channels.all()) {
    const set = apiSchema({
      tag: 'Channels',
      summary: `Set the instance's ${module.name} configuration`,
      key: 'any',
      params: instanceParams,
      body: strictObject({ [module.name]: module.configSchema }, [module.name]),
    });
    app.post<SetBody>(`/${module.name}/set/:instanceName`, { schema: set }, async (request, reply) => {
      const instance = authorizedInstance(context, request, request.params.instanceName);
      const parsed = module.parseConfig(request.body[module.name] ?? {}, module.name);
      // Over the instance as stored, not this node's copy: a concurrent set of another channel, here or on another
      // node, is kept, and what the config keeps of its history (a webhook's pause) builds on the stored one.
      // Read before the change: what the log stored until this request is not taken for what it stores after.
      const at = module.replacing ? { now: Date.now(), position: await context.store.lastPositionOf(instance.id) } : undefined;
      const updated = await context.instances.editChannels(instance.id, (stored) => ({
        [module.name]: module.replacing && at ? module.replacing(stored.channels[module.name], parsed, at) : parsed,
      }));
      reply.code(201);
      return module.describe(updated);
    });

    const find = apiSchema({ tag: 'Channels', summary: `The instance's ${module.name} configuration and state`, key: 'any', params: instanceParams });
    app.get<Named>(`/${module.name}/find/:instanceName`, { schema: find }, async (request) => {
      const instance = authorizedInstance(context, request, request.params.instanceName);
      return module.describe(instance);
    });

    module.routes?.(app);
  }
}
