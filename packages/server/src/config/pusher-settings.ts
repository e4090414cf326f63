import { redactUrlText } from '../ops/redact.ts';
import type { EnvReader } from './env-reader.ts';

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

/** A host name or address, without scheme or path (`soketi.internal`, `127.0.0.1`). */
export const PUSHER_HOST = /^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:]+\]$/;

export interface PusherSettings {
  /** The app of PUSHER_GLOBAL_*, when global mode is on. */
  readonly globalApp: PusherApp | undefined;
  /** Above this many bytes an event's data becomes a reference to the event (Pusher's limit is 10 KB). */
  readonly maxPayloadBytes: number;
  readonly requestTimeoutMs: number;
  /** Whether a host set per instance may be (or resolve to) a non-public address (the global app's host always may). */
  readonly allowPrivateNetworks: boolean;
}

/** The global app of `PUSHER_GLOBAL_*`; undefined unless PUSHER_GLOBAL_ENABLED=true (then its credentials are required). */
function readGlobalPusherApp(env: EnvReader): PusherApp | undefined {
  if (!env.bool('PUSHER_GLOBAL_ENABLED', false)) return undefined;
  const [appId, key, secret] = ['PUSHER_GLOBAL_APP_ID', 'PUSHER_GLOBAL_KEY', 'PUSHER_GLOBAL_SECRET'].map((name) => {
    const value = env.str(name);
    if (value === undefined) env.problems.push(`${name} is required when PUSHER_GLOBAL_ENABLED=true`);
    return value ?? '';
  });
  const cluster = env.str('PUSHER_GLOBAL_CLUSTER');
  const host = env.str('PUSHER_GLOBAL_HOST');
  if (cluster === undefined && host === undefined) env.problems.push('PUSHER_GLOBAL_CLUSTER (or PUSHER_GLOBAL_HOST for a self-hosted server) is required when PUSHER_GLOBAL_ENABLED=true');
  if (host !== undefined && !PUSHER_HOST.test(host)) env.problems.push(`PUSHER_GLOBAL_HOST="${redactUrlText(host)}" must be a host name or address, without scheme, port or path`);
  const port = env.has('PUSHER_GLOBAL_PORT') ? env.int('PUSHER_GLOBAL_PORT', 0, { min: 1, max: 65535 }) : undefined;
  return {
    appId: appId ?? '',
    key: key ?? '',
    secret: secret ?? '',
    useTLS: env.bool('PUSHER_GLOBAL_USE_TLS', false),
    ...(cluster === undefined ? {} : { cluster }),
    ...(host === undefined ? {} : { host }),
    ...(port === undefined ? {} : { port }),
  };
}

/** The Pusher variables beyond the ones every broker has. */
export function readPusherSettings(env: EnvReader): PusherSettings {
  return {
    globalApp: readGlobalPusherApp(env),
    maxPayloadBytes: env.int('PUSHER_MAX_PAYLOAD_SIZE', 10_240, { min: 1024 }),
    requestTimeoutMs: env.int('PUSHER_REQUEST_TIMEOUT_MS', 10_000, { min: 100 }),
    allowPrivateNetworks: env.bool('PUSHER_ALLOW_PRIVATE_NETWORKS', false),
  };
}
