import cors from '@fastify/cors';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { ErrorObject } from 'ajv';
import { corsOrigin } from '../config/cors.ts';
import { excerpt, PomboError, validationError } from '../core/errors.ts';
import { isStoreUnreachable } from '../store/store-unreachable.ts';
import type { AppContext } from '../app-context.ts';
import { jsonBodies } from './json-body.ts';
import { channelConfigRoutes } from './routes/channel-config-routes.ts';
import { chatRoutes } from './routes/chat-routes.ts';
import { clusterRoutes } from './routes/cluster-routes.ts';
import { eventRoutes } from './routes/event-routes.ts';
import { instanceRoutes } from './routes/instance-routes.ts';
import { opsRoutes } from './routes/ops-routes.ts';
import { sandboxRoutes } from './routes/sandbox-routes.ts';
import { managerRoutes } from '../manager/manager-routes.ts';
import { settingsRoutes } from './routes/settings-routes.ts';
import { closeUnansweredUpgrades } from './unanswered-upgrades.ts';
import { reportErrors } from './errors-webhook.ts';
import { answerClientErrors } from './client-errors.ts';
import { openApi } from './openapi.ts';
import { guardRequests } from './request-guard.ts';
import { schemaError, validatorCompiler } from './schema-validation.ts';

/** Turns any error into Evolution API's error shape with a stable code; never leaks a stack trace. */
function toPomboError(error: FastifyError, context: AppContext): PomboError {
  if (error instanceof PomboError) return error;
  if (error.validation) return schemaError(error.validationContext ?? 'body', error.validation as ErrorObject[]);
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PomboError('POMBO_ERR_BODY_TOO_LARGE', { limit: context.config.server.bodyLimitBytes });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new PomboError('POMBO_ERR_UNSUPPORTED_MEDIA_TYPE');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new PomboError('POMBO_ERR_INVALID_JSON', { detail: error.message });
  }
  if (error instanceof SyntaxError) return new PomboError('POMBO_ERR_INVALID_JSON', { detail: error.message });
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return validationError(error.message);
  const reference = randomUUID();
  if (isStoreUnreachable(error)) {
    context.log.warn({ reference, code: (error as { code?: unknown }).code, reason: error.message }, 'request failed: the database did not answer');
    return new PomboError('POMBO_ERR_UNAVAILABLE', {
      detail: `the database did not answer (reference ${reference}): send the request again; events sent again with the same producer id are stored once`,
    });
  }
  context.log.error({ err: error, reference }, 'unhandled error');
  return new PomboError('POMBO_ERR_INTERNAL', { reference });
}

/** A refused key is what an operator looks for first (a client with a stale key, a probe): never the key itself. */
function logRefusal(context: AppContext, request: FastifyRequest, error: PomboError): void {
  const path = request.url.split('?')[0];
  context.log.info({ code: error.code, method: request.method, path, address: request.ip }, 'request refused');
}

/** Malformed URLs and over-long path parameters are the client's mistake: answer them in our shape. */
function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
  const detail = tooLong ? 'a path parameter is longer than 100 characters (instance names have at most 64)' : 'the URL is malformed';
  void reply.code(400).send(validationError(detail).toJSON());
}

/** How long a shutdown lets HTTP requests in progress finish before it closes their connections. */
export const HTTP_DRAIN_MS = 10_000;

/**
 * At shutdown, requests in progress (a body still arriving, a handler still running) finish, for at
 * most HTTP_DRAIN_MS, and their connections close; one arriving meanwhile (pipelined behind them) is answered 503
 * POMBO_ERR_UNAVAILABLE and its connection closed. Registered first, so that it answers before the
 * other hooks (authentication, rate limits) run.
 */
function drainOnClose(app: FastifyInstance): void {
  let closing = false;
  let drain: NodeJS.Timeout | undefined;
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    void reply.code(503).header('connection', 'close').send(SHUTTING_DOWN.toJSON());
    return reply;
  });
  // A connection whose request finished during the drain is closed once idle (a request pipelined behind
  // it is answered first): kept alive, it would hold the drain open.
  app.addHook('onResponse', async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });
  app.addHook('preClose', async () => {
    closing = true;
    drain = setTimeout(() => app.server.closeAllConnections(), HTTP_DRAIN_MS);
    drain.unref();
  });
  app.addHook('onClose', async () => clearTimeout(drain));
}

const SHUTTING_DOWN = new PomboError('POMBO_ERR_UNAVAILABLE', { detail: 'the server is shutting down: send the request again to another node, or once it is back' });

export function buildHttpServer(context: AppContext): FastifyInstance {
  const limits = context.config.connections;
  const app = Fastify({
    bodyLimit: context.config.server.bodyLimitBytes,
    logger: false,
    // Requests arriving during shutdown get our 503 (drainOnClose), not Fastify's own body.
    return503OnClosing: false,
    // Idle connections close at shutdown; requests in progress finish (drainOnClose bounds the wait).
    forceCloseConnections: 'idle',
    frameworkErrors,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      // Also closes connections that never send a byte (408): without it an idle socket is kept forever.
      headersTimeout: limits.headersTimeoutMs,
      // Node checks the two timeouts every 30 s by default: a connection would outlive its timeout by that much.
      connectionsCheckingInterval: Math.min(1000, Math.ceil(limits.headersTimeoutMs / 10)),
    },
    clientErrorHandler: answerClientErrors,
  });
  const { methods, credentials } = context.config.cors;
  void app.register(cors, { origin: corsOrigin(context.config.cors), methods: [...methods], credentials, maxAge: 600 });
  app.setValidatorCompiler(validatorCompiler);
  // Past it Node closes new connections at once, before they cost more than a file descriptor for a moment.
  app.server.maxConnections = limits.maxConnections;
  // Bodies are JSON only: Fastify's default text/plain parser would turn a form or a text into a string body.
  app.removeContentTypeParser('text/plain');
  jsonBodies(app, context.config.limits.bodyMaxDepth);
  drainOnClose(app);
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
    const error = new PomboError('POMBO_ERR_ROUTE_NOT_FOUND', { method: excerpt(request.method), url: excerpt(request.url.split('?')[0] ?? '') });
    void reply.code(404).send(error.toJSON());
  });

  reportErrors(app, context);
  guardRequests(app, context);
  openApi(app, context);
  // Routes are added in a plugin so that they come after the OpenAPI plugin, which collects their
  // schemas as they are added; skip-override keeps them (and their hooks) in the root context.
  const routes = async (api: FastifyInstance) => {
    opsRoutes(api, context);
    clusterRoutes(api, context);
    instanceRoutes(api, context);
    sandboxRoutes(api, context);
    chatRoutes(api, context);
    settingsRoutes(api, context);
    eventRoutes(api, context);
    channelConfigRoutes(api, context);
    if (context.config.manager.enabled) managerRoutes(api, context);
  };
  void app.register(Object.assign(routes, { [Symbol.for('skip-override')]: true }));
  closeUnansweredUpgrades(app.server);
  return app;
}
