import pg from 'pg';
import { APPEND_LOCK } from '../../packages/server/src/store/postgres/postgres-store.ts';

export interface AppendLockStats {
  samples: number;
  /** Share of samples in which a transaction held the log's append lock. */
  heldShare: number;
  /** Transactions waiting for it, on average. */
  meanWaiters: number;
  /** Transactions committed per second in the database (every user's). */
  commitsPerSecond: number;
}

/**
 * Samples, every few milliseconds, who holds and who waits for the append lock of one schema's log
 * (pg_locks: an advisory lock keyed by the events table's oid and APPEND_LOCK), and counts the
 * database's commits: how busy the cluster's one serialization point is.
 */
export class AppendLockSampler {
  private timer: NodeJS.Timeout | undefined;
  private samples = 0;
  private held = 0;
  private waiters = 0;
  private commitsAtStart = 0;
  private startedAt = 0;
  private sampling: Promise<void> | undefined;

  private constructor(
    private readonly client: pg.Client,
    private readonly tableOid: number,
  ) {}

  static async open(connectionString: string, schema: string): Promise<AppendLockSampler> {
    const client = new pg.Client({ connectionString, application_name: 'pombo-bench' });
    await client.connect();
    const { rows } = await client.query<{ oid: number }>('SELECT $1::regclass::oid::int AS oid', [`"${schema}".pombo_events`]);
    return new AppendLockSampler(client, rows[0]?.oid ?? 0);
  }

  async start(everyMs = 20): Promise<void> {
    this.samples = this.held = this.waiters = 0;
    this.commitsAtStart = await this.commits();
    this.startedAt = performance.now();
    this.timer = setInterval(() => {
      this.sampling ??= this.sample().finally(() => (this.sampling = undefined));
    }, everyMs);
  }

  async stop(): Promise<AppendLockStats> {
    clearInterval(this.timer);
    await this.sampling;
    const seconds = (performance.now() - this.startedAt) / 1000;
    const commits = (await this.commits()) - this.commitsAtStart;
    const samples = Math.max(1, this.samples);
    return { samples: this.samples, heldShare: this.held / samples, meanWaiters: this.waiters / samples, commitsPerSecond: commits / seconds };
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    return this.client.end();
  }

  private async sample(): Promise<void> {
    const { rows } = await this.client.query<{ held: number; waiting: number }>(
      `SELECT count(*) FILTER (WHERE granted)::int AS held, count(*) FILTER (WHERE NOT granted)::int AS waiting
       FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2`,
      [this.tableOid, APPEND_LOCK],
    );
    this.samples++;
    if ((rows[0]?.held ?? 0) > 0) this.held++;
    this.waiters += rows[0]?.waiting ?? 0;
  }

  private async commits(): Promise<number> {
    const { rows } = await this.client.query<{ commits: string }>('SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0]?.commits ?? 0);
  }
}
