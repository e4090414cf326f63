import type { FastifyInstance } from 'fastify';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import type { ChannelModule } from '../../channels/channel.ts';
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
      const parsed = await module.parseConfig(request.body[module.name] ?? {}, module.name, instance.channels[module.name]);
      const replace = await replacement(context, module, instance.id, parsed);
      // Over the instance as stored, not this node's copy: a concurrent set of another channel, here or on another
      // node, is kept, and what the config keeps of its history (a webhook's pause) builds on the stored one.
      const updated = await context.instances.editChannels(instance.id, (stored) => ({ [module.name]: replace(stored.channels[module.name]) }));
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

/**
 * What a set writes over the stored config: the parsed config, or what the module builds from both at
 * the log's moment, read before the change (what the log stored until this request is not taken for
 * what it stores after).
 */
async function replacement(context: AppContext, module: ChannelModule, instanceId: string, parsed: unknown): Promise<(stored: unknown) => unknown> {
  const { replacing } = module;
  if (!replacing) return () => parsed;
  const at = { now: Date.now(), position: await context.store.lastPositionOf(instanceId) };
  return (stored) => replacing.call(module, stored, parsed, at);
}
