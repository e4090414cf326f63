import type { FastifyInstance } from 'fastify';
import { type AppContext, authorizedInstance } from '../../app-context.ts';
import { object } from '../../core/validate.ts';

type Named = { Params: { instanceName: string } };

/** `POST /<channel>/set/:instanceName` and `GET /<channel>/find/:instanceName` for every channel, as in Evolution API. */
export function channelConfigRoutes(app: FastifyInstance, context: AppContext): void {
  for (const module of context.channels.all()) {
    app.post<Named>(`/${module.name}/set/:instanceName`, async (request, reply) => {
      const instance = authorizedInstance(context, request, request.params.instanceName);
      const body = object(request.body, 'body');
      const config = module.parseConfig(object(body[module.name], module.name), module.name);
      const updated = await context.instances.setChannelConfig(instance, module.name, config);
      reply.code(201);
      return module.describe(updated);
    });

    app.get<Named>(`/${module.name}/find/:instanceName`, async (request) => {
      const instance = authorizedInstance(context, request, request.params.instanceName);
      return module.describe(instance);
    });

    module.routes?.(app);
  }
}
