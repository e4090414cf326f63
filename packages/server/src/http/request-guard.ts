import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type AppContext, requestKeyOf, authorizedInstance } from '../app-context.ts';
import { GLOBAL_KEY } from '../core/schemas.ts';

type Security = ReadonlyArray<Record<string, unknown>> | undefined;

/**
 * Authenticates as the request arrives, before its body is read, parsed or validated: a caller without
 * a valid key costs the server no parsing (a 10 MB body held the event loop for a second), and learns
 * nothing about a route but 401 (or 404/403 for an instance it may not reach), exactly as when the
 * route's handler checked first. The key a route needs is the `security` of its schema.
 * Handlers still resolve their instance themselves (this is a guard, not a lookup), reusing the
 * principal identified here (authorizedInstance keeps it per request): one digest of the key per request.
 */
export function guardRequests(app: FastifyInstance, context: AppContext): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const security = (request.routeOptions.schema as { security?: Security } | undefined)?.security;
    if (!security?.length) return;
    const name = (request.params as { instanceName?: unknown } | undefined)?.instanceName;
    if (typeof name === 'string') authorizedInstance(context, request, name);
    else if (security.some((scheme) => GLOBAL_KEY in scheme)) context.auth.requireGlobal(requestKeyOf(request));
    else context.auth.require(requestKeyOf(request));
  });
}

