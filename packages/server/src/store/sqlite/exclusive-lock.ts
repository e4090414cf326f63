import Database from 'better-sqlite3';
import { privateFile } from '../../ops/private-files.ts';

/**
 * A second Pombo on the same SQLite log would run a second dispatcher over it: every event delivered
 * twice. The first process to open the log holds a write transaction on a small database of its own
 * next to it (`<log>-lock`) for as long as it has the log open. SQLite's lock is the operating
 * system's, so it ends with the process however it ends (kill -9 included): nothing is left to clean
 * up before a restart.
 */
export class DatabaseInUseError extends Error {
  constructor(readonly file: string) {
    super(`another Pombo uses the SQLite database ${file}`);
    this.name = 'DatabaseInUseError';
  }
}

/** The locks this process holds, by log file, with how many stores share each. */
const held = new Map<string, { lock: Database.Database; users: number }>();

/**
 * The lock for the log at `file`, held until every `release()` of this process (or its end); throws
 * DatabaseInUseError when another process holds it. Stores of one process share it, as they share
 * the process's SQLite connections: the hazard is two processes, each with its own dispatcher.
 */
export function lockDatabaseFile(file: string): { release(): void } {
  const entry = held.get(file) ?? { lock: acquire(file), users: 0 };
  held.set(file, entry);
  entry.users++;
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      if (--entry.users > 0) return;
      held.delete(file);
      entry.lock.close();
    },
  };
}

function acquire(file: string): Database.Database {
  const lockFile = `${file}-lock`;
  privateFile(lockFile);
  // No wait: the holder is a running Pombo, which will not let go soon.
  const lock = new Database(lockFile, { timeout: 0 });
  try {
    lock.exec('BEGIN EXCLUSIVE');
    return lock;
  } catch (error) {
    lock.close();
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') throw new DatabaseInUseError(file);
    throw error;
  }
}
