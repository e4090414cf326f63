import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { PomboError, validationError } from '../core/errors.ts';
import type { AppContext } from './app-context.ts';
import { channelConfigRoutes } from './routes/channel-config-routes.ts';
import { eventRoutes } from './routes/event-routes.ts';
import { instanceRoutes } from './routes/instance-routes.ts';
import { opsRoutes } from './routes/ops-routes.ts';
import { sandboxRoutes } from './routes/sandbox-routes.ts';

/** Turns any error into Evolution API's error shape with a stable code; never leaks a stack trace. */
function toPomboError(error: FastifyError, context: AppContext): PomboError {
  if (error instanceof PomboError) return error;
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PomboError('POMBO_ERR_BODY_TOO_LARGE', { limit: context.config.server.bodyLimitBytes });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new PomboError('POMBO_ERR_UNSUPPORTED_MEDIA_TYPE');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return validationError('the body is empty: send a JSON object');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new PomboError('POMBO_ERR_INVALID_JSON', { detail: error.message });
  }
  if (error instanceof SyntaxError) return new PomboError('POMBO_ERR_INVALID_JSON', { detail: error.message });
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return validationError(error.message);
  const reference = randomUUID();
  context.log.error({ err: error, reference }, 'unhandled error');
  return new PomboError('POMBO_ERR_INTERNAL', { reference });
}

export function buildHttpServer(context: AppContext): FastifyInstance {
  const app = Fastify({
    bodyLimit: context.config.server.bodyLimitBytes,
    logger: false,
    return503OnClosing: true,
    forceCloseConnections: true,
  });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const pombo = toPomboError(error, context);
    void reply.code(pombo.status).send(pombo.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new PomboError('POMBO_ERR_ROUTE_NOT_FOUND', { method: request.method, url: request.url.split('?')[0] ?? '' });
    void reply.code(404).send(error.toJSON());
  });

  opsRoutes(app, context);
  instanceRoutes(app, context);
  sandboxRoutes(app, context);
  eventRoutes(app, context);
  channelConfigRoutes(app, context);
  return app;
}
