import { redactUrlText } from '../ops/redact.ts';
import type { EnvReader } from './env-reader.ts';

export interface SqsSettings {
  readonly region: string;
  /** An SQS-compatible server (ElasticMQ, LocalStack…); undefined for AWS itself. */
  readonly endpoint: string | undefined;
  /** Static credentials; undefined uses the AWS SDK's default chain (environment, profile, instance role). */
  readonly credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** The queues' owner when it is not the caller's account. */
  readonly accountId: string | undefined;
  /** First word of every queue name: `{prefix}-{instance}-{event-kebab}`. */
  readonly queuePrefix: string;
  /** Second word of the global queues: `{prefix}-{globalPrefix}-{event-kebab}`. */
  readonly globalPrefix: string;
  /** In global mode, one queue `{prefix}-{globalPrefix}` for every event. */
  readonly globalSingleQueue: boolean;
  /** FIFO queues by default (an instance's `fifo` overrides it). */
  readonly fifo: boolean;
  /** Above this many bytes (body plus attributes) a message becomes a reference to the event. */
  readonly maxPayloadBytes: number;
  readonly requestTimeoutMs: number;
}

/** Letters, digits, `-` and `_`: what SQS allows in queue names. */
const QUEUE_WORD = /^[A-Za-z0-9_-]{1,40}$/;

function queueWord(env: EnvReader, name: string, fallback: string): string {
  const value = env.str(name, fallback);
  if (QUEUE_WORD.test(value)) return value;
  env.problems.push(`${name}="${value}" must be 1 to 40 letters, digits, "-" or "_" (it starts SQS queue names)`);
  return fallback;
}

function readCredentials(env: EnvReader): SqsSettings['credentials'] {
  const accessKeyId = env.str('SQS_ACCESS_KEY_ID');
  const secretAccessKey = env.str('SQS_SECRET_ACCESS_KEY');
  if (!accessKeyId && !secretAccessKey) return undefined;
  if (!accessKeyId || !secretAccessKey) {
    env.problems.push('SQS_ACCESS_KEY_ID and SQS_SECRET_ACCESS_KEY go together (or leave both out to use the AWS default credential chain)');
  }
  return { accessKeyId: accessKeyId ?? '', secretAccessKey: secretAccessKey ?? '' };
}

/**
 * The SQS-compatible server: `SQS_ENDPOINT_URL` (the AWS SDK's word) or `SQS_BASE_URL` (Evolution API's,
 * since 2.3.7); both may be set only to the same URL.
 */
function readEndpoint(env: EnvReader): string | undefined {
  const endpoint = env.url('SQS_ENDPOINT_URL');
  const base = env.url('SQS_BASE_URL');
  if (endpoint && base && endpoint !== base) {
    env.problems.push(`SQS_ENDPOINT_URL="${redactUrlText(endpoint)}" and SQS_BASE_URL="${redactUrlText(base)}" name two servers: set one of them (SQS_BASE_URL is Evolution API's name for SQS_ENDPOINT_URL)`);
  }
  return endpoint ?? base;
}

/** Reads the SQS variables (seed 001 names plus `SQS_ENDPOINT_URL` and Pombo's own); problems go to `env.problems`. */
export function readSqsSettings(env: EnvReader): SqsSettings {
  const region = env.str('SQS_REGION');
  if (!region) env.problems.push('SQS_REGION is required when SQS_ENABLED=true (e.g. us-east-1)');
  const accountId = env.str('SQS_ACCOUNT_ID');
  if (accountId !== undefined && !/^\d{12}$/.test(accountId)) env.problems.push(`SQS_ACCOUNT_ID="${accountId}" must be a 12-digit AWS account id`);
  return {
    region: region ?? 'us-east-1',
    endpoint: readEndpoint(env),
    credentials: readCredentials(env),
    accountId,
    queuePrefix: queueWord(env, 'SQS_QUEUE_PREFIX', 'evolution'),
    globalPrefix: queueWord(env, 'SQS_GLOBAL_PREFIX_NAME', 'global'),
    globalSingleQueue: env.bool('SQS_GLOBAL_FORCE_SINGLE_QUEUE', false),
    fifo: env.bool('SQS_FIFO', false),
    maxPayloadBytes: env.int('SQS_MAX_PAYLOAD_SIZE', 262_144, { min: 1024, max: 1_048_576 }),
    requestTimeoutMs: env.int('SQS_REQUEST_TIMEOUT_MS', 10_000, { min: 100 }),
  };
}
