import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { newToken } from '../core/ids.ts';
import type { EventKey } from '../core/event-names.ts';
import { privateDir, PrivatePathError, readPrivateFile } from '../ops/private-files.ts';
import { secretKey } from '../channels/webhook/webhook-signature.ts';
import { parsePostgresUri } from '../store/postgres/postgres-uri.ts';
import { readBrokers, type BrokersConfig } from './brokers.ts';
import { type CorsConfig, readCors } from './cors.ts';
import { readConnectionLimits, type ConnectionLimits } from './connection-limits.ts';
import { ConfigError, EnvReader } from './env-reader.ts';
import { readLogLevel } from './log-level.ts';

export { ConfigError } from './env-reader.ts';

export interface WebhookConfig {
  globalEnabled: boolean;
  globalUrl: string | undefined;
  globalByEvents: boolean;
  globalEvents: ReadonlySet<EventKey>;
  /** The key of the Standard Webhooks secret (`whsec_…`) signing the global webhook, decoded here (a malformed one stops the start, even with the global webhook off). */
  globalSecretKey: Buffer | undefined;
  globalBase64: boolean;
  requestTimeoutMs: number;
  retryMaxAttempts: number;
  retryInitialDelaySeconds: number;
  retryUseExponentialBackoff: boolean;
  retryMaxDelaySeconds: number;
  retryJitterFactor: number;
  nonRetryableStatusCodes: ReadonlySet<number>;
  maxInFlight: number;
  /** `all`: a record of every delivery (the delivery log); `failures`: of dead letters and replays only. */
  deliveryLog: 'all' | 'failures';
  circuitFailureThreshold: number;
  circuitCooldownSeconds: number;
  circuitMaxCooldownSeconds: number;
  /** Whether webhooks may reach loopback, private, link-local and other non-public addresses (SSRF guard). */
  allowPrivateNetworks: boolean;
  headersMax: number;
  headersMaxBytes: number;
  /** Additional endpoints (`/webhook/endpoints/…`) an instance may have, besides its default webhook. */
  maxEndpointsPerInstance: number;
  /** How long a rotated-out secret keeps signing alongside the new one, unless the rotation says otherwise. */
  secretRotationOverlapSeconds: number;
  /** An instance webhook is disabled after this many consecutive failed attempts (0: never by count). */
  disableAfterFailures: number;
  /** … or after failing for this long without a delivery (0: never by time). */
  disableAfterHours: number;
  /** Where the API's error answers are posted (Evolution API's error webhook), when WEBHOOK_EVENTS_ERRORS=true. */
  errorsUrl: string | undefined;
}

export interface WebsocketConfig {
  enabled: boolean;
  globalEvents: boolean;
  /** Evolution API's keyless addresses: accepted, without effect (every connection needs a key). */
  allowedHosts: readonly string[];
}

export interface RealtimeConfig {
  ackWaitMs: number;
  maxInFlight: number;
  maxDeliver: number;
  /** Distinct subscriber names one instance may have. */
  maxSubscribers: number;
  /** How often an idle connection is pinged (and closed when the previous ping went unanswered). */
  pingIntervalMs: number;
}

/** What one request or one tenant may claim (docs/security.md). */
export interface LimitsConfig {
  /** The deepest nesting of objects and arrays a JSON body may have. */
  bodyMaxDepth: number;
  /** The largest `data` of one event, in bytes of JSON. */
  eventMaxDataBytes: number;
  instanceMax: number;
  sandboxMaxGroups: number;
  sandboxGroupMaxParticipants: number;
}

/** Several Pombos on one PostgreSQL database (docs/cluster.md). */
export interface ClusterConfig {
  enabled: boolean;
  /** This node's name in the cluster (its leases and heartbeats carry it). */
  nodeId: string;
  /** How long a lease or a heartbeat holds without renewal; renewed every third of it. */
  leaseTtlMs: number;
}

export interface Config {
  server: { port: number; host: string; url: string; bodyLimitBytes: number };
  cors: CorsConfig;
  auth: { apiKey: string; apiKeyGenerated: boolean; exposeInFetchInstances: boolean };
  database: {
    provider: 'sqlite' | 'postgresql';
    uri: string;
    sqliteSync: 'full' | 'normal';
    /** PostgreSQL: a statement running longer is cancelled, and an answer awaited longer given up (0: never). */
    statementTimeoutMs: number;
    /** PostgreSQL: TCP keepalive probes start after this much silence on a connection. */
    keepAliveMs: number;
    /** PostgreSQL: how long the start waits for a server that is not up yet (0: one attempt). */
    connectTimeoutMs: number;
  };
  dataDir: string;
  logLevel: string;
  events: { retentionHours: number };
  webhook: WebhookConfig;
  websocket: WebsocketConfig;
  realtime: RealtimeConfig;
  /** The operator dashboard at /manager. */
  manager: { enabled: boolean };
  limits: LimitsConfig;
  connections: ConnectionLimits;
  brokers: BrokersConfig;
  cluster: ClusterConfig;
  /** What the operator should know but that does not stop the start (ignored variables); logged once at boot. */
  warnings: readonly string[];
}

/** The longest overlap of a secret rotation: 30 days. */
export const MAX_OVERLAP_SECONDS = 30 * 86_400;

/** Reads the global API key: from the environment, else from the data folder, else a new one written there. */
function resolveApiKey(fromEnv: string, dataDir: string): { apiKey: string; apiKeyGenerated: boolean } {
  if (fromEnv) return { apiKey: fromEnv, apiKeyGenerated: false };
  const file = resolve(dataDir, 'api-key');
  if (existsSync(file)) {
    let apiKey: string;
    try {
      apiKey = readPrivateFile(file).trim();
    } catch (error) {
      if (!(error instanceof PrivatePathError)) throw error;
      throw new ConfigError([`DATA_DIR: the file ${error.message}`]);
    }
    // No key opens nothing (auth.ts refuses an empty one): the server would answer 401 to every call with the global key.
    if (!apiKey) {
      throw new ConfigError([
        `DATA_DIR: the file ${file} is empty: remove it (Pombo then generates a key and prints it once), write the global key in it, or set AUTHENTICATION_API_KEY`,
      ]);
    }
    return { apiKey, apiKeyGenerated: false };
  }
  const apiKey = newToken(32);
  writeFileSync(file, `${apiKey}\n`, { mode: 0o600 });
  return { apiKey, apiKeyGenerated: true };
}

function readCluster(env: EnvReader, provider: string): ClusterConfig {
  const enabled = env.bool('CLUSTER_ENABLED', false);
  if (enabled && provider !== 'postgresql') {
    env.problems.push('CLUSTER_ENABLED=true needs DATABASE_PROVIDER=postgresql: the nodes of a cluster share one PostgreSQL database (SQLite is one node only)');
  }
  return {
    enabled,
    nodeId: env.str('CLUSTER_NODE_ID', `${hostname()}-${process.pid}`),
    leaseTtlMs: env.int('CLUSTER_LEASE_TTL_MS', 30_000, { min: 300 }),
  };
}

/** `WEBHOOK_GLOBAL_SECRET`'s key, decoded whether or not the global webhook is on (a malformed value stops the start). */
function readGlobalSecretKey(env: EnvReader): Buffer | undefined {
  const secret = env.str('WEBHOOK_GLOBAL_SECRET');
  const key = secret === undefined ? undefined : secretKey(secret);
  if (typeof key !== 'string') return key;
  // The message never repeats the value: it is a secret.
  env.problems.push(`WEBHOOK_GLOBAL_SECRET ${key}`);
  return undefined;
}

function readWebhook(env: EnvReader): WebhookConfig {
  const codes = env.list('WEBHOOK_RETRY_NON_RETRYABLE_STATUS_CODES', ['400', '401', '403', '404', '422']);
  const nonRetryable = new Set<number>();
  for (const code of codes) {
    const parsed = Number(code);
    if (!Number.isInteger(parsed) || parsed < 100 || parsed > 599) {
      env.problems.push(`WEBHOOK_RETRY_NON_RETRYABLE_STATUS_CODES has "${code}", which is not an HTTP status code`);
    } else nonRetryable.add(parsed);
  }
  const globalEnabled = env.bool('WEBHOOK_GLOBAL_ENABLED', false);
  const globalUrl = env.url('WEBHOOK_GLOBAL_URL');
  if (globalEnabled && !globalUrl) env.problems.push('WEBHOOK_GLOBAL_ENABLED=true needs WEBHOOK_GLOBAL_URL');
  // Evolution API's error webhook. WEBHOOK_EVENTS_ERRORS is not read as an event toggle: setting it to
  // turn the error webhook on must not narrow the global webhook to ERRORS (events Pombo never emits).
  // The URL is read only when the error webhook is on: Evolution v1's .env sets both to `false`.
  const errorsEnabled = env.bool('WEBHOOK_EVENTS_ERRORS', false);
  const errorsUrl = errorsEnabled ? env.url('WEBHOOK_EVENTS_ERRORS_WEBHOOK') : undefined;
  if (errorsEnabled && !errorsUrl) env.problems.push('WEBHOOK_EVENTS_ERRORS=true needs WEBHOOK_EVENTS_ERRORS_WEBHOOK, the URL the API errors are posted to');
  return {
    globalEnabled,
    globalUrl,
    globalByEvents: env.bool('WEBHOOK_GLOBAL_WEBHOOK_BY_EVENTS', false),
    globalEvents: env.eventToggles('WEBHOOK_EVENTS_', ['WEBHOOK_EVENTS_ERRORS', 'WEBHOOK_EVENTS_ERRORS_WEBHOOK']),
    globalSecretKey: readGlobalSecretKey(env),
    globalBase64: env.bool('WEBHOOK_GLOBAL_BASE64', false),
    requestTimeoutMs: env.int('WEBHOOK_REQUEST_TIMEOUT_MS', 60000, { min: 1, zeroIsDefault: true }),
    retryMaxAttempts: env.int('WEBHOOK_RETRY_MAX_ATTEMPTS', 10, { min: 1, zeroIsDefault: true }),
    retryInitialDelaySeconds: env.num('WEBHOOK_RETRY_INITIAL_DELAY_SECONDS', 5),
    retryUseExponentialBackoff: env.bool('WEBHOOK_RETRY_USE_EXPONENTIAL_BACKOFF', true),
    retryMaxDelaySeconds: env.num('WEBHOOK_RETRY_MAX_DELAY_SECONDS', 300),
    retryJitterFactor: env.num('WEBHOOK_RETRY_JITTER_FACTOR', 0.2, { max: 1 }),
    nonRetryableStatusCodes: nonRetryable,
    maxInFlight: env.int('WEBHOOK_MAX_IN_FLIGHT', 16, { min: 1, max: 1024 }),
    deliveryLog: env.oneOf('WEBHOOK_DELIVERY_LOG', ['all', 'failures'] as const, 'all'),
    circuitFailureThreshold: env.int('WEBHOOK_CIRCUIT_FAILURE_THRESHOLD', 10, { min: 1 }),
    circuitCooldownSeconds: env.num('WEBHOOK_CIRCUIT_COOLDOWN_SECONDS', 30),
    circuitMaxCooldownSeconds: env.num('WEBHOOK_CIRCUIT_MAX_COOLDOWN_SECONDS', 600),
    allowPrivateNetworks: env.bool('WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
    headersMax: env.int('WEBHOOK_HEADERS_MAX', 32, { min: 0, max: 1000 }),
    headersMaxBytes: env.int('WEBHOOK_HEADERS_MAX_BYTES', 8192, { min: 0, max: 1024 * 1024 }),
    maxEndpointsPerInstance: env.int('WEBHOOK_MAX_ENDPOINTS_PER_INSTANCE', 10, { min: 0, max: 1000 }),
    secretRotationOverlapSeconds: env.int('WEBHOOK_SECRET_ROTATION_OVERLAP_SECONDS', 86_400, { min: 0, max: MAX_OVERLAP_SECONDS }),
    disableAfterFailures: env.int('WEBHOOK_DISABLE_AFTER_FAILURES', 100, { min: 0 }),
    disableAfterHours: env.num('WEBHOOK_DISABLE_AFTER_HOURS', 24),
    errorsUrl,
  };
}

/** Parses and validates the environment once; the result is frozen, deeply. Throws ConfigError naming each bad variable. */
export function loadConfig(source: Record<string, string | undefined> = process.env, cwd = process.cwd()): Config {
  const dotenvFile = resolve(cwd, '.env');
  const merged = existsSync(dotenvFile) ? { ...parseDotenv(readFileSync(dotenvFile)), ...source } : source;
  const env = new EnvReader(merged);
  const config = readConfig(env, cwd);
  // Only a valid configuration touches the disk: no data folder, no key file for a start that is refused.
  if (env.problems.length) throw new ConfigError(env.problems);
  const { dataDir } = config;
  const sqliteFile = config.database.provider === 'sqlite' && config.database.uri !== ':memory:';
  const dbDir = sqliteFile ? dirname(config.database.uri) : undefined;
  const warnings = env.bootWarnings();
  // A folder of the operator's own choosing (a custom DATABASE_CONNECTION_URI) is created private, never narrowed.
  if (dbDir !== undefined && dbDir !== dataDir) ownDir('DATABASE_CONNECTION_URI', dbDir, { narrow: false }, warnings);
  // The data folder is created when the database lives in it or the API key is to be kept in it, and narrowed to 700 whenever it exists.
  if (dbDir === dataDir || existsSync(dataDir) || !config.auth.apiKey) ownDir('DATA_DIR', dataDir, {}, warnings);
  return deepFreeze({ ...config, auth: { ...config.auth, ...resolveApiKey(config.auth.apiKey, dataDir) }, warnings });
}

/** privateDir for the folder `variable` names: a folder Pombo cannot use stops the start naming the variable. */
function ownDir(variable: string, dir: string, options: { narrow?: boolean }, warnings: string[]): void {
  try {
    const warning = privateDir(dir, options);
    if (warning) warnings.push(`${variable}: ${warning}`);
  } catch (error) {
    if (!(error instanceof PrivatePathError)) throw error;
    throw new ConfigError([`${variable}: the folder ${error.message}`]);
  }
}

/**
 * Reads every variable Pombo has (problems go to `env.problems`), touching nothing on disk; the API
 * key is resolved by loadConfig. Every variable is read here, in config/, and nowhere else.
 */
export function readConfig(env: EnvReader, cwd: string): Omit<Config, 'warnings'> {
  const port = env.int('SERVER_PORT', 8080, { max: 65535 });
  const host = env.str('SERVER_HOST', '0.0.0.0');
  const provider = env.oneOf('DATABASE_PROVIDER', ['sqlite', 'postgresql'] as const, 'sqlite');
  const dataDir = resolve(cwd, env.str('DATA_DIR', './data'));
  const defaultUri = provider === 'sqlite' ? resolve(dataDir, 'pombo.db') : undefined;
  const uri = env.str('DATABASE_CONNECTION_URI') ?? defaultUri;
  if (!uri) env.problems.push('DATABASE_CONNECTION_URI is required when DATABASE_PROVIDER=postgresql');
  if (provider === 'postgresql' && uri) {
    try {
      parsePostgresUri(uri);
    } catch (error) {
      // The message never repeats the URI: it holds the password.
      env.problems.push(`DATABASE_CONNECTION_URI ${(error as Error).message}`);
    }
  }
  return {
    server: {
      port,
      host,
      url: env.url('SERVER_URL', `http://localhost:${port}`) ?? `http://localhost:${port}`,
      bodyLimitBytes: env.int('SERVER_BODY_LIMIT_BYTES', 10 * 1024 * 1024, { min: 1024 }),
    },
    cors: readCors(env),
    auth: {
      // Empty when unset: loadConfig then reads or generates the key in the data folder.
      apiKey: env.str('AUTHENTICATION_API_KEY') ?? '',
      apiKeyGenerated: false,
      exposeInFetchInstances: env.bool('AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES', false),
    },
    database: {
      provider,
      uri: provider === 'sqlite' && uri && uri !== ':memory:' ? resolve(cwd, uri) : (uri ?? ''),
      sqliteSync: env.oneOf('DATABASE_SQLITE_SYNCHRONOUS', ['full', 'normal'] as const, 'full'),
      statementTimeoutMs: env.int('DATABASE_STATEMENT_TIMEOUT_MS', 30_000),
      keepAliveMs: env.int('DATABASE_KEEPALIVE_MS', 10_000, { min: 1000 }),
      connectTimeoutMs: env.int('DATABASE_CONNECT_TIMEOUT_MS', 30_000, { min: 0 }),
    },
    dataDir,
    logLevel: readLogLevel(env),
    events: { retentionHours: env.num('EVENTS_RETENTION_HOURS', 72, { min: 0.0001 }) },
    webhook: readWebhook(env),
    websocket: {
      enabled: env.bool('WEBSOCKET_ENABLED', true),
      globalEvents: env.bool('WEBSOCKET_GLOBAL_EVENTS', false),
      allowedHosts: env.list('WEBSOCKET_ALLOWED_HOSTS', []),
    },
    realtime: {
      ackWaitMs: env.int('REALTIME_ACK_WAIT_MS', 30000, { min: 10 }),
      maxInFlight: env.int('REALTIME_MAX_IN_FLIGHT', 1000, { min: 1 }),
      maxDeliver: env.int('REALTIME_MAX_DELIVER', 10, { min: 1 }),
      maxSubscribers: env.int('REALTIME_MAX_SUBSCRIBERS', 100, { min: 1 }),
      pingIntervalMs: env.int('REALTIME_PING_INTERVAL_MS', 30_000, { min: 100 }),
    },
    manager: { enabled: env.bool('MANAGER_ENABLED', true) },
    limits: {
      bodyMaxDepth: env.int('SERVER_BODY_MAX_DEPTH', 64, { min: 4, max: 1000 }),
      eventMaxDataBytes: env.int('EVENTS_MAX_DATA_BYTES', 4 * 1024 * 1024, { min: 1024 }),
      instanceMax: env.int('INSTANCE_MAX', 1000, { min: 1 }),
      sandboxMaxGroups: env.int('SANDBOX_MAX_GROUPS', 1000, { min: 1 }),
      sandboxGroupMaxParticipants: env.int('SANDBOX_GROUP_MAX_PARTICIPANTS', 1024, { min: 2 }),
    },
    connections: readConnectionLimits(env),
    brokers: readBrokers(env),
    cluster: readCluster(env, provider),
  };
}

/**
 * Freezes the plain objects and arrays of the configuration, all the way down, so no part of Pombo
 * can change what another part reads. Class instances (a TLS context, a Set) are left as they are:
 * their types are read-only (`ReadonlySet`).
 */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  const prototype = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) return value;
  for (const member of Object.values(value)) deepFreeze(member);
  return Object.freeze(value);
}
