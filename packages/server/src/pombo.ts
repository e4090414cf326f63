import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ChannelRegistry } from './channels/registry.ts';
import { ClusterNode } from './cluster/cluster-node.ts';
import type { ChannelModule } from './channels/channel.ts';
import type { Config } from './config/index.ts';
import { Dispatcher } from './delivery/dispatcher.ts';
import { Authenticator } from './core/auth.ts';
import type { AppContext } from './app-context.ts';
import { buildHttpServer } from './http/http-server.ts';
import { InstanceService } from './instances/instance-service.ts';
import { createLogger } from './ops/logger.ts';
import { createMetrics } from './ops/metrics.ts';
import { startRetention } from './ops/retention.ts';
import { MediaStore } from './sources/sandbox/media-store.ts';
import { SandboxNetwork } from './sources/sandbox/sandbox-network.ts';
import { openStore } from './store/index.ts';
import { CHANNELS } from './channels/index.ts';

/**
 * The longest a shutdown may take: HTTP requests in progress drain, deliveries in flight get their
 * grace (DestinationWorker.stop), the delivery state is saved and the store closed. Past it the process
 * exits all the same; what was not saved is delivered again after the restart. Below compose.yaml's
 * stop_grace_period, so that Pombo, not the SIGKILL, ends the stop.
 */
export const SHUTDOWN_DEADLINE_MS = 20_000;

export interface Pombo {
  readonly context: AppContext;
  readonly http: FastifyInstance;
  /** Listens on the configured port (or `port`, e.g. 0 in tests); resolves to the address. */
  listen(port?: number): Promise<string>;
  close(): Promise<void>;
}

/** Builds Pombo from a configuration: store, dispatcher, channels, sources and the HTTP server. */
export async function createPombo(config: Config, log: Logger = createLogger(config.logLevel)): Promise<Pombo> {
  for (const warning of config.warnings) log.warn(warning);
  const store = await openStore(config, log);
  const metrics = createMetrics();
  // Names instances in metrics and logs; asked only once `instances` exists (at the first delivery).
  const dispatcher = new Dispatcher(store, log, metrics, (instanceId): string | undefined => instances.findById(instanceId)?.name);
  const auth = new Authenticator(config.auth.apiKey);
  const channels = new ChannelRegistry(dispatcher);
  const instances = new InstanceService(store, auth, channels, metrics, log);
  const context: AppContext = {
    config,
    store,
    log,
    metrics,
    dispatcher,
    auth,
    instances,
    channels,
    sandbox: new SandboxNetwork(instances, new MediaStore(join(config.dataDir, 'media')), {
      maxGroups: config.limits.sandboxMaxGroups,
      maxParticipants: config.limits.sandboxGroupMaxParticipants,
    }, store),
    envelope: {
      serverUrl: config.server.url,
      apikeyOf: (instanceId) => (config.auth.exposeInFetchInstances ? (instances.findById(instanceId)?.token ?? null) : null),
    },
  };
  // Made before the channels, which use it (the realtime hub its subscriber leases); it starts after them.
  if (config.cluster.enabled && store.cluster) {
    context.cluster = new ClusterNode(config.cluster, config.server.url, store.cluster, dispatcher, instances, log, metrics);
  }
  try {
    return await start(context);
  } catch (error) {
    // A channel refused its configuration, the store its first read…: what was opened is let go of
    // before reporting it, the SQLite lock included, so that a start after this one may take it.
    await stopAll(context).catch(() => undefined);
    throw error;
  }
}

/** Starts the parts of `context` (channels, dispatcher, cluster node, HTTP server, retention): Pombo ready to listen. */
async function start(context: AppContext): Promise<Pombo> {
  const { config, store, dispatcher, instances, auth, channels } = context;
  for (const make of CHANNELS) {
    const module: ChannelModule | undefined = await make(context);
    if (module) channels.register(module);
  }
  await dispatcher.start();
  if (context.cluster) {
    dispatcher.useLeases(context.cluster);
    // An instance created or deleted on another node: its destinations are balanced at once, not at the next tick.
    const node = context.cluster;
    store.onAppend(
      (events) => {
        if (events.some((event) => event.event === 'INSTANCE_CREATE' || event.event === 'INSTANCE_DELETE')) node.changed();
      },
      () => ({ events: ['INSTANCE_CREATE', 'INSTANCE_DELETE'] }),
    );
  }
  // One read of the instances at start: their tokens, then their channels.
  for (const instance of await instances.load()) {
    auth.remember(instance);
    void channels.sync(instance);
  }
  channels.startGlobal();
  await context.cluster?.start();
  const http = buildHttpServer(context);
  const retention = startRetention(context);

  return {
    context,
    http,
    async listen(port = config.server.port) {
      return http.listen({ port, host: config.server.host });
    },
    async close() {
      retention.stop();
      try {
        await http.close();
      } finally {
        await stopAll(context);
      }
    },
  };
}

/** Stops the cluster node, the dispatcher and the channels (started or not), then closes the store whatever happened. */
async function stopAll({ cluster, dispatcher, channels, store }: AppContext): Promise<void> {
  try {
    await cluster?.stop();
    await dispatcher.stop();
    await channels.stop();
  } finally {
    await store.close();
  }
}
