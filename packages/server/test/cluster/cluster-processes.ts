import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnPombo, type ChildPombo } from '../helpers/child-pombo.ts';

/** The variables of a cluster node: node `id` on the PostgreSQL URI `uri` (with its schema), its leases lasting `ttlMs`. */
export function clusterNodeEnv({ apiKey, uri, id, ttlMs }: { apiKey: string; uri: string; id: string; ttlMs: number }): Record<string, string> {
  return {
    AUTHENTICATION_API_KEY: apiKey,
    DATABASE_PROVIDER: 'postgresql',
    DATABASE_CONNECTION_URI: uri,
    CLUSTER_ENABLED: 'true',
    CLUSTER_NODE_ID: id,
    CLUSTER_LEASE_TTL_MS: String(ttlMs),
  };
}

/**
 * The Pombo processes of a cluster test: each a node of one PostgreSQL schema with its own data folder
 * and port. A webhook's or message's `server_url` (http://localhost:<port> by default) tells which
 * node sent it (`nodeOf`).
 */
export class ClusterProcesses {
  private readonly nodeOfUrl = new Map<string, string>();
  private readonly dirs: string[] = [];

  constructor(
    private readonly options: { apiKey: string; schema: string; ttlMs: number; env?: Record<string, string> },
  ) {}

  /** Starts node `id` on `database` (a PostgreSQL URI without the schema: the proxy's for a node to cut off). */
  async start(id: string, database: string): Promise<ChildPombo> {
    const dir = mkdtempSync(join(tmpdir(), `pombo-cluster-${id}-`));
    this.dirs.push(dir);
    const port = await freePort();
    this.nodeOfUrl.set(`http://localhost:${port}`, id);
    const { apiKey, schema, ttlMs, env } = this.options;
    return spawnPombo(
      {
        DATA_DIR: dir,
        ...clusterNodeEnv({ apiKey, uri: `${database}?schema=${schema}`, id, ttlMs }),
        LOG_LEVEL: 'warn',
        ...env,
      },
      port,
    );
  }

  /** The node that sent a message, from its `server_url` (undefined: not one of these). */
  nodeOf(serverUrl: unknown): string | undefined {
    return typeof serverUrl === 'string' ? this.nodeOfUrl.get(serverUrl) : undefined;
  }

  /** Deletes the nodes' data folders (once they are stopped). */
  removeData(): void {
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** How many of node `id`'s cursor and record writes were refused by a lease's epoch (its `/metrics`). */
export async function fencedWrites(node: ChildPombo, id: string, apiKey: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`, { headers: { apikey: apiKey } })).text();
  return fencedWritesIn(text, id, 'destination');
}

/** The `pombo_cluster_fenced_writes_total` of node `id` and one kind (destination or subscriber) in a `/metrics` text. */
export function fencedWritesIn(metrics: string, id: string, kind: 'destination' | 'subscriber'): number {
  return Number(new RegExp(`pombo_cluster_fenced_writes_total\\{node="${id}",kind="${kind}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
}
