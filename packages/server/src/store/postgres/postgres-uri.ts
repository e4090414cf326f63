import { redactUrl } from '../../ops/redact.ts';

/** A PostgreSQL connection URI as Evolution API (Prisma) writes it, split for `pg`. */
export interface PostgresUri {
  /** The URI without `schema` (which `pg` does not know). */
  connectionString: string;
  /** `?schema=` (Prisma's way to name the schema), `public` when absent. */
  schema: string;
  /** The URI with its password masked: the only form that goes into messages. */
  redacted: string;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/;

/** Parses `postgresql://user:pass@host:5432/db?schema=evolution`; throws an Error whose message never holds the password. */
export function parsePostgresUri(uri: string): PostgresUri {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new Error('is not a URI: expected postgresql://user:password@host:5432/database?schema=name');
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw new Error(`must start with postgresql:// (it starts with ${url.protocol}//)`);
  }
  if (!url.hostname) throw new Error('names no host: expected postgresql://user:password@host:5432/database');
  const schema = url.searchParams.get('schema') ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new Error('has a ?schema= that is not a plain schema name (letters, digits, _, - and $)');
  url.searchParams.delete('schema');
  const connectionString = url.toString();
  return { connectionString, schema, redacted: redactUrl(connectionString) };
}
