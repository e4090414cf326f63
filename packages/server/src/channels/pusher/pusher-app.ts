import type { EnvReader } from '../../config/env-reader.ts';
import { validationError } from '../../core/errors.ts';
import type { JsonSchema } from '../../core/schemas.ts';
import { optionalBoolean, optionalInteger, optionalString, type Obj } from '../../core/validate.ts';

/** The credentials of one Pusher app (Pusher's cloud by cluster, or a self-hosted server by host and port). */
export interface PusherApp {
  readonly appId: string;
  readonly key: string;
  readonly secret: string;
  readonly cluster?: string;
  readonly useTLS: boolean;
  readonly host?: string;
  readonly port?: number;
}

/** What `find` shows instead of a secret. */
export const MASKED = '********';

/** A host name or address, without scheme or path (`soketi.internal`, `127.0.0.1`). */
const HOST = /^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:]+\]$/;

const credential = (description: string): JsonSchema => ({ type: ['string', 'number'], description });

/** The fields of the per-instance `pusher` object beyond enabled, events and ordering. */
export const PUSHER_APP_SCHEMA: Record<string, JsonSchema> = {
  appId: credential("The Pusher app's id (required when enabled)."),
  key: credential("The app's key (required when enabled)."),
  secret: credential("The app's secret (required when enabled; find shows it masked)."),
  cluster: credential("Pusher's cluster (e.g. us2); or host for a self-hosted server."),
  useTLS: { type: 'boolean', description: 'Connect with TLS (default true).' },
  host: { type: 'string', description: 'A self-hosted Pusher-compatible server: host name or address, without scheme, port or path.' },
  port: { type: 'integer', minimum: 1, maximum: 65535, description: "The self-hosted server's port." },
};

/** The per-instance `pusher` object of `/pusher/set` and `/instance/create` (seed 001), plus `host` and `port`. */
export function parsePusherApp(config: Obj, path: string): Partial<PusherApp> {
  const enabled = optionalBoolean(config, 'enabled', `${path}.enabled`) ?? true;
  const field = (name: string) => {
    const value = config[name];
    return typeof value === 'number' ? String(value) : optionalString(config, name, `${path}.${name}`);
  };
  const app = {
    appId: field('appId'),
    key: field('key'),
    secret: field('secret'),
    cluster: field('cluster'),
    useTLS: optionalBoolean(config, 'useTLS', `${path}.useTLS`) ?? true,
    host: field('host'),
    port: optionalInteger(config, 'port', 1, 65535, `${path}.port`),
  };
  if (app.host !== undefined && !HOST.test(app.host)) throw validationError(`${path}.host must be a host name or address, without scheme, port or path`);
  if (app.secret === MASKED) throw validationError(`${path}.secret must be the app's secret (find shows it masked)`);
  if (enabled) {
    for (const name of ['appId', 'key', 'secret'] as const) {
      if (app[name] === undefined) throw validationError(`${path}.${name} is required when the pusher config is enabled`);
    }
    if (app.cluster === undefined && app.host === undefined) throw validationError(`${path}.cluster (e.g. us2) or ${path}.host (a self-hosted server) is required`);
  }
  return Object.fromEntries(Object.entries(app).filter(([, value]) => value !== undefined));
}

/** The global app of `PUSHER_GLOBAL_*`; undefined unless PUSHER_GLOBAL_ENABLED=true (then its credentials are required). */
export function readGlobalPusherApp(env: EnvReader): PusherApp | undefined {
  if (!env.bool('PUSHER_GLOBAL_ENABLED', false)) return undefined;
  const [appId, key, secret] = ['PUSHER_GLOBAL_APP_ID', 'PUSHER_GLOBAL_KEY', 'PUSHER_GLOBAL_SECRET'].map((name) => {
    const value = env.str(name);
    if (value === undefined) env.problems.push(`${name} is required when PUSHER_GLOBAL_ENABLED=true`);
    return value ?? '';
  });
  const cluster = env.str('PUSHER_GLOBAL_CLUSTER');
  const host = env.str('PUSHER_GLOBAL_HOST');
  if (cluster === undefined && host === undefined) env.problems.push('PUSHER_GLOBAL_CLUSTER (or PUSHER_GLOBAL_HOST for a self-hosted server) is required when PUSHER_GLOBAL_ENABLED=true');
  if (host !== undefined && !HOST.test(host)) env.problems.push(`PUSHER_GLOBAL_HOST="${host}" must be a host name or address, without scheme, port or path`);
  const port = env.int('PUSHER_GLOBAL_PORT', 0, { min: 1, max: 65535 });
  return {
    appId: appId ?? '',
    key: key ?? '',
    secret: secret ?? '',
    useTLS: env.bool('PUSHER_GLOBAL_USE_TLS', false),
    ...(cluster === undefined ? {} : { cluster }),
    ...(host === undefined ? {} : { host }),
    ...(port ? { port } : {}),
  };
}
