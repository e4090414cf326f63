import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { PomboError, validationError } from '../core/errors.ts';
import type { AppContext } from './app-context.ts';
import { channelConfigRoutes } from './routes/channel-config-routes.ts';
import { eventRoutes } from './routes/event-routes.ts';
import { instanceRoutes } from './routes/instance-routes.ts';
import { opsRoutes } from './routes/ops-routes.ts';
import { sandboxRoutes } from './routes/sandbox-routes.ts';
import { managerRoutes } from '../manager/manager-routes.ts';
import { closeUnansweredUpgrades } from './unanswered-upgrades.ts';

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

/** A refused key is what an operator looks for first (a client with a stale key, a probe): never the key itself. */
export function logRefusal(context: AppContext, request: FastifyRequest, error: PomboError): void {
  const path = request.url.split('?')[0];
  context.log.info({ code: error.code, method: request.method, path, address: request.ip }, 'request refused');
}

/** Malformed URLs and over-long path parameters are the client's mistake: answer them in our shape. */
function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
  const detail = tooLong ? 'a path parameter is too long (instance names have at most 64 characters)' : 'the URL is malformed';
  void reply.code(400).send(validationError(detail).toJSON());
}

export function buildHttpServer(context: AppContext): FastifyInstance {
  const app = Fastify({
    bodyLimit: context.config.server.bodyLimitBytes,
    logger: false,
    return503OnClosing: true,
    forceCloseConnections: true,
    frameworkErrors,
  });
  // Bodies are JSON only: Fastify's default text/plain parser would turn a form or a text into a string body.
  app.removeContentTypeParser('text/plain');
  app.addHook('onRequest', async (request) => {
    const repeated = Object.entries(request.query as Record<string, unknown>).find(([, value]) => Array.isArray(value));
    if (repeated) throw validationError(`the query parameter ${repeated[0]} is given more than once`);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const pombo = toPomboError(error, context);
    if (pombo.status === 401 || pombo.status === 403) logRefusal(context, request, pombo);
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
  managerRoutes(app, context);
  closeUnansweredUpgrades(app.server);
  return app;
}
