import type { EnvReader } from './env-reader.ts';

/** Which web pages on other origins may call the REST API and long-poll Socket.IO (Evolution API's variables). */
export interface CorsConfig {
  /** `*` (any origin) or exact origins such as `https://app.example.com`. */
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

export function readCors(env: EnvReader): CorsConfig {
  const origins = env.list('CORS_ORIGIN', ['*']);
  for (const origin of origins) {
    if (origin !== '*' && !isOrigin(origin)) {
      env.problems.push(`CORS_ORIGIN has "${origin}", which is not an origin: write * or scheme://host[:port] with no path or trailing slash (https://app.example.com)`);
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
