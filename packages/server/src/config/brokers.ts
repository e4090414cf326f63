import type { EventKey } from '../core/event-names.ts';
import type { EnvReader } from './env-reader.ts';
import { readKafkaSettings, type KafkaSettings } from './kafka-settings.ts';
import { readNatsSettings, type NatsSettings } from './nats-settings.ts';
import { readPusherSettings, type PusherSettings } from './pusher-settings.ts';
import { readRabbitMqSettings, type RabbitMqSettings } from './rabbitmq-settings.ts';
import { readSqsSettings, type SqsSettings } from './sqs-settings.ts';

/** What every broker reads under its prefix (`RABBITMQ_ENABLED`, `RABBITMQ_EVENTS_<EVENT>`, …), plus its own settings. */
export interface BrokerServerConfig<Settings> {
  readonly enabled: boolean;
  readonly globalEnabled: boolean;
  /** Global mode's events: every event when no `<PREFIX>_EVENTS_<EVENT>` is set, else those set to true. */
  readonly globalEvents: ReadonlySet<EventKey>;
  readonly retryMaxDelayMs: number;
  /** Read only when the broker is enabled: its connection settings are required then, and ignored otherwise. */
  readonly settings: Settings | undefined;
}

export interface BrokersConfig {
  readonly rabbitmq: BrokerServerConfig<RabbitMqSettings>;
  readonly nats: BrokerServerConfig<NatsSettings>;
  readonly kafka: BrokerServerConfig<KafkaSettings>;
  readonly sqs: BrokerServerConfig<SqsSettings>;
  readonly pusher: BrokerServerConfig<PusherSettings>;
}

interface Toggles {
  /** Prefixes of the per-event toggles, when not `<PREFIX>_EVENTS_` alone. */
  readonly prefixes?: readonly string[];
  /** Variables under a toggle prefix that are not toggles (`SQS_GLOBAL_ENABLED`). */
  readonly except?: readonly string[];
}

function readBroker<Settings>(env: EnvReader, prefix: string, readSettings: (env: EnvReader) => Settings, toggles: Toggles = {}): BrokerServerConfig<Settings> {
  const enabled = env.bool(`${prefix}_ENABLED`, false);
  return {
    enabled,
    globalEnabled: env.bool(`${prefix}_GLOBAL_ENABLED`, false),
    globalEvents: env.eventToggles(toggles.prefixes ?? [`${prefix}_EVENTS_`], toggles.except),
    retryMaxDelayMs: env.int(`${prefix}_RETRY_MAX_DELAY_MS`, 30_000, { min: 10 }),
    settings: enabled ? readSettings(env) : undefined,
  };
}

/** The variables of RabbitMQ, NATS, Kafka, SQS and Pusher (docs/brokers.md); problems go to `env.problems`. */
export function readBrokers(env: EnvReader): BrokersConfig {
  return {
    rabbitmq: readBroker(env, 'RABBITMQ', readRabbitMqSettings),
    nats: readBroker(env, 'NATS', readNatsSettings),
    kafka: readBroker(env, 'KAFKA', readKafkaSettings),
    // Evolution API reads SQS's toggles as SQS_GLOBAL_<EVENT>; SQS_EVENTS_<EVENT> as the other brokers do works too.
    sqs: readBroker(env, 'SQS', readSqsSettings, {
      prefixes: ['SQS_GLOBAL_', 'SQS_EVENTS_'],
      except: ['SQS_GLOBAL_ENABLED', 'SQS_GLOBAL_FORCE_SINGLE_QUEUE', 'SQS_GLOBAL_PREFIX_NAME'],
    }),
    pusher: readBroker(env, 'PUSHER', readPusherSettings),
  };
}
