import type { EnvReader } from './env-reader.ts';
import { redactUrlText } from '../ops/redact.ts';
import { dottedName } from './broker-env.ts';

export interface NatsSettings {
  /** `host:port` of each server, without credentials. */
  readonly servers: string[];
  /** Credentials found in the URI: `nats://user:pass@host` or `nats://token@host`. */
  readonly user: string | undefined;
  readonly pass: string | undefined;
  readonly token: string | undefined;
  /** A `tls://` URI asks for TLS. */
  readonly tls: boolean;
  /** First word of every subject: `{prefix}.{instance}.{event.dotted}`. */
  readonly prefix: string;
  /** With JetStream: publish with acks and `Nats-Msg-Id` into a stream covering `{prefix}.>`. */
  readonly jetstream: boolean;
  /** The stream Pombo creates when no stream covers `{prefix}.>` yet. */
  readonly stream: string;
  /** How long a batch waits for the server (flush, or JetStream acks) before it is published again. */
  readonly publishTimeoutMs: number;
}

/** JetStream stream names: no whitespace, `.`, `*`, `>`, or path separators. */
const STREAM_NAME = /^[A-Za-z0-9_-]{1,255}$/;

interface Server {
  readonly hostPort: string;
  readonly url: URL;
}

/** `NATS_URI`: one or more comma-separated `nats://`, `tls://` URLs or bare `host:port`. */
function parseServers(env: EnvReader): Server[] {
  const raw = env.list('NATS_URI');
  if (raw.length === 0) {
    env.problems.push('NATS_URI is required when NATS_ENABLED=true (e.g. nats://localhost:4222)');
    return [];
  }
  const servers: Server[] = [];
  for (const item of raw) {
    try {
      const url = new URL(item.includes('://') ? item : `nats://${item}`);
      if (!['nats:', 'tls:'].includes(url.protocol) || !url.hostname) throw new Error('protocol');
      servers.push({ hostPort: `${url.hostname}:${url.port || 4222}`, url });
    } catch {
      env.problems.push(`NATS_URI has "${redactUrlText(item)}", which is not a nats://host:port or tls://host:port address`);
    }
  }
  return servers;
}

/** Reads the NATS variables; problems go to `env.problems`. */
export function readNatsSettings(env: EnvReader): NatsSettings {
  const servers = parseServers(env);
  const first = servers[0]?.url;
  const user = first?.username ? decodeURIComponent(first.username) : undefined;
  const pass = first?.password ? decodeURIComponent(first.password) : undefined;
  const stream = env.str('NATS_JETSTREAM_STREAM', 'POMBO_EVENTS');
  if (!STREAM_NAME.test(stream)) env.problems.push(`NATS_JETSTREAM_STREAM="${stream}" must be letters, digits, "-" or "_"`);
  return {
    servers: servers.map((server) => server.hostPort),
    user: pass === undefined ? undefined : user,
    pass,
    token: pass === undefined ? user : undefined,
    tls: servers.some((server) => server.url.protocol === 'tls:'),
    prefix: dottedName(env, 'NATS_PREFIX_KEY', 'evolution'),
    jetstream: env.bool('NATS_JETSTREAM_ENABLED', false),
    stream,
    publishTimeoutMs: env.int('NATS_PUBLISH_TIMEOUT_MS', 10_000, { min: 100 }),
  };
}
