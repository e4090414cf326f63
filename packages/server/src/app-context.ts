import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ChannelRegistry } from './channels/registry.ts';
import type { ClusterNode } from './cluster/cluster-node.ts';
import type { Config } from './config/index.ts';
import type { EnvelopeContext } from './core/envelope.ts';
import type { Dispatcher } from './delivery/dispatcher.ts';
import type { InstanceService } from './instances/instance-service.ts';
import type { Metrics } from './ops/metrics.ts';
import type { SandboxNetwork } from './sources/sandbox/sandbox-network.ts';
import type { Instance, Store } from './store/types.ts';
import { Authenticator, type Principal } from './core/auth.ts';

/** Everything a route or a channel needs, built once at boot. */
export interface AppContext {
  readonly config: Config;
  readonly store: Store;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly dispatcher: Dispatcher;
  readonly auth: Authenticator;
  readonly instances: InstanceService;
  readonly channels: ChannelRegistry;
  readonly sandbox: SandboxNetwork;
  readonly envelope: EnvelopeContext;
  /** This Pombo as a node of a cluster (CLUSTER_ENABLED=true); undefined when it runs alone. */
  cluster?: ClusterNode;
}

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * The key a request presents: the `apikey` header (any case), as Evolution API clients send it, or else
 * `Authorization: Bearer <key>` (what Prometheus and most HTTP tools send). Every route reads it here.
 */
export const requestKeyOf = (request: FastifyRequest): string | undefined => {
  const value = request.headers.apikey;
  return (Array.isArray(value) ? value[0] : value) ?? BEARER.exec(request.headers.authorization ?? '')?.[1];
};

/** Principals identified so far, per request: the guard (http/request-guard.ts) and the handler share one digest of the key. */
const principals = new WeakMap<FastifyRequest, Principal>();

/** Authenticates the request and returns the named instance if the key may act on it (401, 404, 403 otherwise). */
export function authorizedInstance(context: AppContext, request: FastifyRequest, name: string): Instance {
  let principal = principals.get(request);
  if (!principal) {
    principal = context.auth.require(requestKeyOf(request));
    principals.set(request, principal);
  }
  return Authenticator.authorize(principal, name, context.instances.find(name));
}
