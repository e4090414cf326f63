import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import pg from 'pg';
import { APPEND_CHANNEL } from '../../packages/server/src/store/postgres/append-notifications.ts';

/** What the backends serving the benchmark's nodes did, on average over the samples (a number of backends each). */
export interface BackendStates {
  /** Running a statement (CPU, or waiting for the CPU). */
  running: number;
  /** Waiting for the log's append lock (the head row, `pombo_log_head`, that every append updates). */
  appendLock: number;
  /** Waiting for a row lock (an instance's row, a lease row) or another heavyweight lock. */
  rowLock: number;
  /** Waiting for the WAL to be written or flushed, or for another internal lock or I/O. */
  io: number;
  /** In a transaction, waiting for the node's next statement: locks held while the node's event loop gets to it. */
  idleInTransaction: number;
}

export interface PostgresStats {
  /** Connections from the nodes to PostgreSQL, at the end (every node's pool, writer and LISTEN connections). */
  connections: number;
  backends: BackendStates;
  /** Share of samples in which a transaction held the append lock. */
  appendLockHeld: number;
  /** Append commits per second: the NOTIFYs of this schema's log; each one reaches every node, and each node reads what another node committed. */
  appendCommitsPerSecond: number;
}

const POSTGRES_PORT_HEX = (5432).toString(16).toUpperCase().padStart(4, '0');

/** The local ports of the TCP connections to PostgreSQL (port 5432) that processes `pids` hold (Linux /proc). */
export function postgresClientPorts(pids: readonly number[]): Set<number> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match?.[1]) inodes.add(match[1]);
      } catch {
        // closed meanwhile
      }
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [local, remote, inode] = [fields[1], fields[2], fields[9]];
      if (local && remote?.endsWith(`:${POSTGRES_PORT_HEX}`) && inode && inodes.has(inode)) ports.add(Number.parseInt(local.split(':')[1] ?? '0', 16));
    }
  }
  return ports;
}

/**
 * Samples, every 50 milliseconds, what PostgreSQL's backends serving the benchmark's nodes are doing
 * (pg_stat_activity, the nodes' connections told apart by their client ports, so that other users of
 * the server do not count) and whether the log's append lock is held (pg_locks); and counts the log's
 * append commits by listening to their NOTIFYs. Together: where a commit spends the time it holds the
 * cluster's one serialization point.
 */
export class PostgresSampler {
  private timer: NodeJS.Timeout | undefined;
  private ports = new Set<number>();
  private samples = 0;
  private held = 0;
  private states: BackendStates = { running: 0, appendLock: 0, rowLock: 0, io: 0, idleInTransaction: 0 };
  private notices = 0;
  private startedAt = 0;
  private sampling: Promise<void> | undefined;

  private constructor(
    private readonly client: pg.Client,
    private readonly listener: pg.Client,
    private readonly tableOid: number,
    private readonly pids: () => number[],
  ) {}

  static async open(connectionString: string, schema: string, pids: () => number[]): Promise<PostgresSampler> {
    const client = new pg.Client({ connectionString, application_name: 'pombo-bench' });
    const listener = new pg.Client({ connectionString, application_name: 'pombo-bench' });
    await Promise.all([client.connect(), listener.connect()]);
    const { rows } = await client.query<{ oid: number }>('SELECT $1::regclass::oid::int AS oid', [`"${schema}".pombo_log_head`]);
    const sampler = new PostgresSampler(client, listener, rows[0]?.oid ?? 0, pids);
    listener.on('notification', ({ payload }) => {
      if (payload?.startsWith(`${schema} `)) sampler.notices++;
    });
    await listener.query(`LISTEN ${APPEND_CHANNEL}`);
    return sampler;
  }

  /** Every 50 ms: each sample is a query on pg_stat_activity and pg_locks that costs PostgreSQL about 1 ms of CPU (5% of a core at every 20 ms, taken from the nodes on a busy machine). */
  start(everyMs = 50): void {
    this.samples = this.held = this.notices = 0;
    this.states = { running: 0, appendLock: 0, rowLock: 0, io: 0, idleInTransaction: 0 };
    this.ports = postgresClientPorts(this.pids());
    this.startedAt = performance.now();
    this.timer = setInterval(() => {
      this.sampling ??= this.sample().finally(() => (this.sampling = undefined));
    }, everyMs);
  }

  async stop(): Promise<PostgresStats> {
    clearInterval(this.timer);
    await this.sampling;
    const seconds = (performance.now() - this.startedAt) / 1000;
    const samples = Math.max(1, this.samples);
    const backends = Object.fromEntries(Object.entries(this.states).map(([state, total]) => [state, total / samples])) as unknown as BackendStates;
    return { connections: postgresClientPorts(this.pids()).size, backends, appendLockHeld: this.held / samples, appendCommitsPerSecond: this.notices / seconds };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([this.client.end(), this.listener.end()]);
  }

  private async sample(): Promise<void> {
    // Connections a pool opened since the start count too.
    if (this.samples % 25 === 0) this.ports = postgresClientPorts(this.pids());
    // The head row is held by the transaction that updated it and is not itself waiting (those that wait for it hold the table's lock too).
    const { rows } = await this.client.query<{ held: boolean; backends: Array<{ state: string | null; type: string | null; head: boolean }> | null }>(
      `SELECT EXISTS (SELECT 1 FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
                      WHERE l.locktype = 'relation' AND l.relation = $2::int::oid AND l.mode = 'RowExclusiveLock' AND l.granted
                        AND a.wait_event_type IS DISTINCT FROM 'Lock') AS held,
         (SELECT json_agg(json_build_object('state', state, 'type', wait_event_type, 'head', query LIKE '%pombo_log_head%'))
          FROM pg_stat_activity WHERE client_port = ANY($1::int[])) AS backends`,
      [[...this.ports], this.tableOid],
    );
    this.samples++;
    if (rows[0]?.held) this.held++;
    for (const { state, type, head } of rows[0]?.backends ?? []) {
      if (state === 'idle in transaction') this.states.idleInTransaction++;
      else if (state !== 'active') continue;
      else if (type === 'Lock') this.states[head ? 'appendLock' : 'rowLock']++;
      else if (type === 'IO' || type === 'LWLock') this.states.io++;
      else if (type === null || type === 'CPU') this.states.running++;
    }
  }
}
