import type { EnvReader } from './env-reader.ts';

/** Which web pages on other origins may call the REST API and long-poll Socket.IO (Evolution API's variables). */
export interface CorsConfig {
  /** `*` (any origin) or exact origins such as `https://app.example.com` (a bare host in CORS_ORIGIN is here over https and http). */
  origins: readonly string[];
  methods: readonly string[];
  credentials: boolean;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** An origin is a scheme, a host and maybe a port, nothing else: what a browser sends in `Origin`. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

/** A host and maybe a port (`yourdomain1.com`, `localhost:3000`) as origins over https and http; undefined when it is more. */
function bareHostOrigins(entry: string): string[] | undefined {
  if (entry.includes('/')) return undefined;
  try {
    const origins = ['https:', 'http:'].map((scheme) => {
      const url = new URL(`${scheme}//${entry}`);
      if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) throw new Error('not a bare host');
      return url.origin;
    });
    return [...new Set(origins)];
  } catch {
    return undefined;
  }
}

/**
 * The origins of one CORS_ORIGIN entry. Evolution API's .env suggests bare host names
 * (`yourdomain1.com, yourdomain2.com`), which its `cors` middleware compares with the browser's
 * `Origin` as they are, so they never match: a user writing one means the pages of that host, so it
 * stands for the host over https and http (browsers send the scheme, and the host in lower case).
 */
function originsOf(entry: string): string[] | undefined {
  if (entry === '*' || isOrigin(entry)) return [entry];
  return bareHostOrigins(entry);
}

export function readCors(env: EnvReader): CorsConfig {
  const origins: string[] = [];
  for (const entry of env.list('CORS_ORIGIN', ['*'])) {
    const expanded = originsOf(entry);
    if (expanded) origins.push(...expanded.filter((origin) => !origins.includes(origin)));
    else {
      env.problems.push(
        `CORS_ORIGIN has "${entry}", which is not an origin: write *, scheme://host[:port] with no path or trailing slash (https://app.example.com), or a bare host[:port] (app.example.com)`,
      );
    }
  }
  const methods = env.list('CORS_METHODS', ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).map((method) => method.toUpperCase());
  for (const method of methods) {
    if (!METHODS.includes(method)) env.problems.push(`CORS_METHODS has "${method}", which is not one of ${METHODS.join(', ')}`);
  }
  return { origins, methods, credentials: env.bool('CORS_CREDENTIALS', false) };
}

/**
 * The `origin` option of @fastify/cors and socket.io: `*` answers `Access-Control-Allow-Origin: *`,
 * except with credentials, which browsers refuse with `*`: then the page's own origin is echoed, as
 * Evolution API does. Pombo authenticates with the `apikey` header, never a cookie, so neither hands a
 * page anything it did not already hold the key for.
 */
export function corsOrigin(cors: CorsConfig): string | string[] | boolean {
  if (cors.origins.includes('*')) return cors.credentials ? true : '*';
  return [...cors.origins];
}
