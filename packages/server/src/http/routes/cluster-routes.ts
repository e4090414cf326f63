import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../app-context.ts';
import { requestKeyOf } from '../../app-context.ts';
import { apiSchema } from '../../core/schemas.ts';

/** The nodes sharing this Pombo's database, their heartbeats and the leases of destinations (docs/cluster.md). */
export function clusterRoutes(app: FastifyInstance, context: AppContext): void {
  const schema = apiSchema({ tag: 'Operations', summary: 'Cluster nodes, their heartbeats and destination leases', key: 'global' });
  app.get('/cluster', { schema }, async (request) => {
    context.auth.requireGlobal(requestKeyOf(request));
    const { cluster: config } = context.config;
    const node = context.cluster;
    const tables = context.store.cluster;
    if (!node || !tables) {
      return {
        enabled: false,
        node: config.nodeId,
        store: context.store.provider,
        message:
          context.store.provider === 'sqlite'
            ? 'SQLite runs one node only; a cluster needs DATABASE_PROVIDER=postgresql and CLUSTER_ENABLED=true'
            : 'this node runs every destination itself; set CLUSTER_ENABLED=true on every node to share them',
        nodes: [],
        leases: [],
      };
    }
    const [nodes, leases] = await Promise.all([tables.nodes(), tables.leases()]);
    return {
      enabled: true,
      node: node.id,
      store: context.store.provider,
      leaseTtlMs: config.leaseTtlMs,
      nodes: nodes.map((row) => ({ ...row, leases: leases.filter((lease) => lease.nodeId === row.id).length })),
      leases,
    };
  });
}
