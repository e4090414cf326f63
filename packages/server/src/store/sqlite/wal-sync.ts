import { closeSync, fdatasync, openSync } from 'node:fs';

/**
 * Makes commits durable off the event loop. The connection commits with synchronous=NORMAL (the WAL
 * is written, not synced), then this syncs the WAL file on libuv's thread pool and only then calls
 * back: a caller learns its commit is durable exactly as with synchronous=FULL, but the main thread
 * keeps delivering while the disk syncs, and commits made meanwhile share the next sync.
 *
 * Checkpoints stay safe: with NORMAL, SQLite syncs the WAL before a checkpoint and the database
 * after it, so frames copied out of the WAL before this sync ran are on disk in the database.
 */
export class WalSync {
  private fd: number | undefined;
  private syncing = false;
  /** Callbacks for the next sync: their commits were written after the one in progress started. */
  private waiting: Array<(error: Error | null) => void> = [];

  constructor(private readonly walPath: string) {}

  /** Calls `done` once everything written to the WAL so far is on disk. */
  after(done: (error: Error | null) => void): void {
    this.waiting.push(done);
    if (!this.syncing) this.sync();
  }

  /** Resolves once everything written so far is on disk (or rejects with the disk's error). */
  durable(): Promise<void> {
    return new Promise((resolve, reject) => this.after((error) => (error ? reject(error) : resolve())));
  }

  private sync(): void {
    const callbacks = this.waiting;
    this.waiting = [];
    this.syncing = true;
    let fd: number;
    try {
      // Opened on first use: SQLite creates the WAL file with the first write.
      fd = this.fd ??= openSync(this.walPath, 'r');
    } catch (error) {
      return this.settle(callbacks, error as Error);
    }
    fdatasync(fd, (error) => this.settle(callbacks, error));
  }

  private settle(callbacks: Array<(error: Error | null) => void>, error: Error | null): void {
    this.syncing = false;
    for (const callback of callbacks) callback(error);
    if (this.waiting.length) this.sync();
  }

  /** Waits for a sync in progress, then releases the file. */
  async close(): Promise<void> {
    if (this.syncing || this.waiting.length) await this.durable().catch(() => undefined);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
