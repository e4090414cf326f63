import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, type Config } from '../config/index.ts';
import { PrivatePathError } from '../ops/private-files.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import { parsePostgresUri } from './postgres/postgres-uri.ts';
import { reasonOf } from '../core/error-reason.ts';
import { waitForDatabase } from './postgres/wait-for-database.ts';
import { DatabaseInUseError } from './sqlite/exclusive-lock.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './types.ts';

export type * from './types.ts';

/**
 * Opens the store the configuration names. A PostgreSQL server that is not up yet is waited for
 * (DATABASE_CONNECT_TIMEOUT_MS); one that still cannot be reached then, or refuses the credentials,
 * stops the start like a bad variable does: a message naming DATABASE_CONNECTION_URI, with the
 * password masked, and no stack trace.
 */
export async function openStore(config: Config, log: Logger): Promise<Store> {
  const { provider, uri, connectTimeoutMs } = config.database;
  if (provider === 'sqlite') return openSqlite(config);
  const target = parsePostgresUri(uri).redacted;
  // A cluster node's transactions never wait long between statements: one that does is a paused node's.
  const { enabled, leaseTtlMs } = config.cluster;
  const { statementTimeoutMs, keepAliveMs } = config.database;
  const options = { statementTimeoutMs, keepAliveMs, ...(enabled ? { idleInTransactionMs: Math.min(5000, Math.max(200, leaseTtlMs / 3)) } : {}) };
  const startedAt = Date.now();
  try {
    return await waitForDatabase((firstLoginMs) => PostgresStore.open(uri, { ...options, firstLoginMs }), { timeoutMs: connectTimeoutMs, target, log });
  } catch (error) {
    const waited = Date.now() - startedAt;
    const after =
      connectTimeoutMs > 0 && waited >= connectTimeoutMs
        ? `, still after ${(waited / 1000).toFixed(1)} s of waiting (DATABASE_CONNECT_TIMEOUT_MS=${connectTimeoutMs}): check that it runs and accepts connections there, or raise DATABASE_CONNECT_TIMEOUT_MS`
        : '';
    throw new ConfigError([`DATABASE_CONNECTION_URI: PostgreSQL at ${target} could not be opened: ${reasonOf(error)}${after}`]);
  }
}

/**
 * A SQLite log that another Pombo runs on, or whose files Pombo cannot use (another user's, a
 * folder), stops the start naming the variable that points at it.
 */
function openSqlite(config: Config): Store {
  const { uri, sqliteSync } = config.database;
  const inDataDir = dirname(uri) === config.dataDir;
  try {
    return new SqliteStore(uri, { synchronous: sqliteSync });
  } catch (error) {
    if (error instanceof PrivatePathError) throw new ConfigError([`${inDataDir ? 'DATA_DIR' : 'DATABASE_CONNECTION_URI'}: the file ${error.message}`]);
    if (!(error instanceof DatabaseInUseError)) throw error;
    const stop = 'stop it first, or give each Pombo its own';
    throw new ConfigError([
      inDataDir
        ? `DATA_DIR: another Pombo uses ${config.dataDir} (it holds the lock of ${uri}): ${stop} DATA_DIR`
        : `DATABASE_CONNECTION_URI: another Pombo uses the SQLite database ${uri}: ${stop} database file`,
    ]);
  }
}
