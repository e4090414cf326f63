import type { FastifyInstance } from 'fastify';
import { PomboError } from '../../core/errors.ts';
import type { AppContext } from '../../app-context.ts';
import { requestKeyOf } from '../../app-context.ts';
import { apiSchema } from '../../core/schemas.ts';
import { storeHealthProbe } from '../../ops/store-health.ts';

const startedAt = new Date().toISOString();

/** Status, health and Prometheus metrics. */
export function opsRoutes(app: FastifyInstance, context: AppContext): void {
  app.get('/', { schema: apiSchema({ tag: 'Operations', summary: 'Server status and version', key: 'none' }) }, async () => ({
    status: 200,
    message: 'Welcome to Pombo, the event gateway for WhatsApp instances',
    version: '0.1.0',
    startedAt,
    // This server's own reference (routes, bodies, errors), reachable wherever Pombo runs, even offline.
    documentation: `${context.config.server.url}/docs`,
  }));

  const health = apiSchema({ tag: 'Operations', summary: 'Health: 200 when the event store answers, 503 otherwise', key: 'none' });
  const storeAnswers = storeHealthProbe(context.store, context.log);
  app.get('/health', { schema: health }, async (_request, reply) => {
    if (await storeAnswers()) return { status: 'ok', store: context.store.provider };
    // Anyone may ask: the driver's reason (it names the database's host and port) goes to the log only.
    reply.code(503);
    return new PomboError('POMBO_ERR_UNAVAILABLE', { detail: 'the event store does not answer' }).toJSON();
  });

  const metrics = apiSchema({
    tag: 'Operations',
    summary: 'Prometheus metrics',
    description: 'The global key in the apikey header, or as `Authorization: Bearer <key>` (what Prometheus sends).',
    key: 'global',
  });
  app.get('/metrics', { schema: metrics }, async (request, reply) => {
    context.auth.requireGlobal(requestKeyOf(request));
    await context.dispatcher.readDisabledFigures();
    context.dispatcher.collect();
    reply.type(context.metrics.registry.contentType);
    return context.metrics.registry.metrics();
  });
}
