import type { EnvReader } from './env-reader.ts';
import { dottedName, requiredUri, withoutCredentials } from './broker-env.ts';

export interface RabbitMqSettings {
  /** The connection URI, with `frameMax` (and a 30 s heartbeat unless the URI sets one) in its query. */
  readonly uri: string;
  /** The broker address for logs, without credentials. */
  readonly target: string;
  readonly exchange: string;
  /** First word of every routing key: `{prefix}.{instance}.{event-kebab}`. */
  readonly prefix: string;
  /** Declare a durable queue per instance and event, bound to its routing key, so events wait for consumers. */
  readonly declareQueues: boolean;
  readonly queueType: 'classic' | 'quorum';
  /** `x-max-length` of the declared queues (the oldest messages are dropped beyond it). */
  readonly queueMaxLength: number | undefined;
  /** How long a batch waits for the broker's confirms before it is published again. */
  readonly publishTimeoutMs: number;
}

/** AMQP exchange names: up to 255 letters, digits, `-`, `_`, `.` or `:`. */
const EXCHANGE_NAME = /^[A-Za-z0-9_.:-]{1,255}$/;

function withQuery(uri: string, frameMax: number): string {
  const url = new URL(uri);
  url.searchParams.set('frameMax', String(frameMax));
  if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', '30');
  return url.toString();
}

/** Reads the RabbitMQ variables (seed 001 names plus Pombo's own); problems go to `env.problems`. */
export function readRabbitMqSettings(env: EnvReader): RabbitMqSettings {
  const uri = requiredUri(env, 'RABBITMQ_URI', ['amqp:', 'amqps:'], 'amqp://guest:guest@localhost:5672');
  const frameMax = env.int('RABBITMQ_FRAME_MAX', 8192, { min: 4096, max: 2 ** 31 - 1, zeroIsDefault: true });
  const exchange = env.str('RABBITMQ_EXCHANGE_NAME', 'evolution');
  if (!EXCHANGE_NAME.test(exchange)) {
    env.problems.push(`RABBITMQ_EXCHANGE_NAME="${exchange}" must be 1 to 255 letters, digits, "-", "_", "." or ":"`);
  }
  const maxLength = env.int('RABBITMQ_QUEUE_MAX_LENGTH', 0, { min: 0 });
  return {
    uri: withQuery(uri, frameMax),
    target: withoutCredentials(uri),
    exchange,
    prefix: dottedName(env, 'RABBITMQ_PREFIX_KEY', 'evolution'),
    declareQueues: env.bool('RABBITMQ_DECLARE_QUEUES', true),
    queueType: env.oneOf('RABBITMQ_QUEUE_TYPE', ['classic', 'quorum'] as const, 'classic'),
    queueMaxLength: maxLength > 0 ? maxLength : undefined,
    publishTimeoutMs: env.int('RABBITMQ_PUBLISH_TIMEOUT_MS', 30_000, { min: 100 }),
  };
}
