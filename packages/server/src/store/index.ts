import type { Config } from '../config/index.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './types.ts';

export type * from './types.ts';

/** Opens the store the configuration names. */
export function openStore(config: Config): Store {
  return new SqliteStore(config.database.uri, { synchronous: config.database.sqliteSync });
}
