import { PUSHER_HOST, type PusherApp } from '../../config/pusher-settings.ts';
import { validationError } from '../../core/errors.ts';
import type { JsonSchema } from '../../core/schemas.ts';
import { optionalBoolean, optionalInteger, optionalString, type Obj } from '../../core/validate.ts';

/** What `find` shows instead of a secret. */
export const MASKED = '********';

/** A Pusher cluster (`us2`, `eu`): the client puts it inside `api-{cluster}.pusher.com`, so nothing else may be in it. */
const CLUSTER = /^[A-Za-z0-9-]+$/;

/** Why the URL of a self-hosted server is refused (Pombo itself, a literal address the policy refuses), or undefined. */
type HostRefusal = (url: URL) => string | undefined;

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
export function parsePusherApp(config: Obj, path: string, hostRefusal: HostRefusal): Partial<PusherApp> {
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
  if (app.host !== undefined) {
    const url = `${app.useTLS ? 'https' : 'http'}://${app.host}${app.port ? `:${app.port}` : ''}`;
    if (!PUSHER_HOST.test(app.host) || !URL.canParse(url)) throw validationError(`${path}.host must be a host name or address, without scheme, port or path`);
    const refused = hostRefusal(new URL(url));
    if (refused) throw validationError(`${path}.host is refused: ${refused}`);
  }
  if (app.cluster !== undefined && !CLUSTER.test(app.cluster)) throw validationError(`${path}.cluster must be a cluster name such as us2 (letters, digits and dashes)`);
  if (app.secret === MASKED) throw validationError(`${path}.secret must be the app's secret (find shows it masked)`);
  if (enabled) {
    for (const name of ['appId', 'key', 'secret'] as const) {
      if (app[name] === undefined) throw validationError(`${path}.${name} is required when the pusher config is enabled`);
    }
    if (app.cluster === undefined && app.host === undefined) throw validationError(`${path}.cluster (e.g. us2) or ${path}.host (a self-hosted server) is required`);
  }
  return Object.fromEntries(Object.entries(app).filter(([, value]) => value !== undefined));
}
