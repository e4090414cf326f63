import type { BrokerServerConfig } from '../../config/brokers.ts';
import { eventName, selectedKeys, type EventKey } from '../../core/event-names.ts';
import { envelopeJson } from '../../core/envelope.ts';
import { filterPredicate, PAYLOAD_FILTER_SCHEMA, parsePayloadFilter, type PayloadFilter } from '../../core/payload-filter.ts';
import type { DestinationSpec, SendContext } from '../../delivery/destination.ts';
import type { Outcome } from '../../delivery/outcome.ts';
import { forever } from '../../delivery/retry-policy.ts';
import type { AppContext } from '../../app-context.ts';
import { eventList, oneOf, optionalBoolean, type Obj } from '../../core/validate.ts';
import { booleanField, eventList as eventListSchema, nullableFields, strictObject, type JsonSchema } from '../../core/schemas.ts';
import type { Instance, StoredEvent } from '../../store/types.ts';
import type { ChannelModule } from '../channel.ts';

/** One event to publish: the stored event, its envelope's JSON, and whether it goes out in global or per-instance mode. */
export interface BrokerMessage {
  readonly event: StoredEvent;
  /** The envelope as JSON text (`envelopeJson`): drivers send it as it is, or add members with `withFields`. */
  readonly body: string;
  readonly scope: 'global' | 'instance';
  /** The instance's channel configuration (extra fields such as Pusher credentials); undefined in global mode. */
  readonly config?: Readonly<BrokerConfig & Record<string, unknown>>;
}

/** What a driver needs of the destination it publishes for (a driver on its own thread gets a copy of just this). */
export type BrokerTarget = Pick<DestinationSpec, 'id' | 'ordering'>;

export type ConnectionState = 'connected' | 'connecting' | 'disconnected';

/** Why a driver did not write a message: `SendContext.mayStart` said no at the last moment. */
export const WITHDRAWN_REASON = 'not sent: this node can no longer be sure the destination is still its own';
export const WITHDRAWN: Outcome = { kind: 'retry', error: WITHDRAWN_REASON };

/** Whether a driver may write now: the lease asked again after a wait of its own (always, outside cluster mode). */
export const mayWrite = (sending?: SendContext): boolean => sending?.mayStart() ?? true;

/**
 * The headers every broker message carries (AMQP headers, NATS and Kafka headers), so that a
 * consumer can route and deduplicate without parsing the body.
 */
export function messageHeaders(event: StoredEvent): Record<string, string> {
  const name = eventName(event.event);
  return {
    'event-id': event.id,
    event: name.dotted,
    'event-key': name.key,
    instance: event.instance,
    'instance-id': event.instanceId,
  };
}

/**
 * What each broker implements: publish a batch in order and answer, per message, `delivered` only
 * once the broker confirmed it. A driver (re)connects lazily inside `publish`; the dispatcher retries
 * failed publishes forever with capped, jittered backoff, so a broker outage only grows the backlog.
 */
export interface BrokerDriver {
  /**
   * `sending` (cluster mode) is asked again right before messages are written, by drivers whose
   * writes can wait (a connection, a batch before them): a node paused meanwhile past its lease must
   * not publish behind the new holder (answered `retry` with WITHDRAWN instead).
   */
  publish(batch: readonly BrokerMessage[], destination: BrokerTarget, sending?: SendContext): Promise<Outcome[]>;
  /**
   * The state of the connection an instance's configuration publishes on (`config`), or of the
   * driver's when none is given. Drivers with one connection for all answer the same to both; Pusher,
   * one per app an instance brings, answers for that app alone.
   */
  connection(config?: BrokerMessage['config']): { state: ConnectionState; lastError: string | null };
  /** Called once the configuration is known to be valid: connect in the background, so `find` shows the state early. */
  start?(): void;
  /** Whether the target keeps the messages' order (default true); false lets a failure go again alone (see `DestinationSpec.ordered`). */
  ordered?(scope: BrokerMessage['scope'], config?: BrokerMessage['config']): boolean;
  close(): Promise<void>;
}

export interface BrokerConfig {
  enabled: boolean;
  /** The events it publishes; missing for every event (`selectedKeys`), empty while disabled. */
  events?: EventKey[];
  /** `chat` keeps each chat in order with chats in parallel (Kafka keys and SQS FIFO groups per chat). */
  ordering?: 'instance' | 'chat';
  /** Which of the selected events it publishes, by what they carry (core/payload-filter.ts). */
  filter?: PayloadFilter | null;
}

export interface BrokerChannelOptions<Settings> {
  /** The channel's name: body key and route prefix (`rabbitmq`). */
  name: string;
  /** The env prefix, for messages (`RABBITMQ` → `RABBITMQ_ENABLED`). */
  envPrefix: string;
  /** Its variables, parsed at boot (config/brokers.ts). */
  config: BrokerServerConfig<Settings>;
  /** Loads the driver (and so the client library) only when the channel is enabled. */
  loadDriver: (settings: Settings) => Promise<BrokerDriver>;
  /** Extra per-instance fields beyond `enabled` and `events` (Pusher's credentials…). */
  parseExtra?: (config: Obj, path: string) => Record<string, unknown>;
  /** The schemas of the extra fields `parseExtra` reads (they join enabled, events and ordering). */
  extraSchema?: Record<string, JsonSchema>;
  /** Masks secrets of the extra fields for `find`. */
  describeExtra?: (config: Record<string, unknown>) => Record<string, unknown>;
  /** Events published per batch (default 500). */
  maxBatch?: number;
  /**
   * Batches of one lane in flight at once (default 1): above 1 only for drivers whose broker keeps the
   * publish order of one connection and answers each message (RabbitMQ confirms, JetStream acks), or
   * that send one request at a time in the order the batches were handed over (Kafka's send queue).
   */
  pipeline?: number;
}

/**
 * Builds a broker channel (RabbitMQ, NATS, Kafka, SQS, Pusher) on the shared machinery: global and
 * per-instance modes, one destination per (instance or global) × broker, publishing in log order,
 * the cursor advancing only on the broker's confirmation, and connection state plus backlog in `find`.
 */
export async function brokerChannel<Settings>(context: AppContext, options: BrokerChannelOptions<Settings>): Promise<ChannelModule> {
  const prefix = options.envPrefix;
  const { enabled, globalEnabled, globalEvents, retryMaxDelayMs, settings } = options.config;
  const driver = enabled && settings !== undefined ? await options.loadDriver(settings) : undefined;
  if (driver) {
    context.metrics.watchBroker(options.name, () => driver.connection().state === 'connected');
    driver.start?.();
  }

  const spec = (id: string, instanceId: string | null, events: ReadonlySet<EventKey> | null, scope: BrokerMessage['scope'], config?: BrokerMessage['config']): DestinationSpec => {
    const destination: DestinationSpec = {
      id,
      channel: options.name,
      instanceId,
      events,
      ordering: config?.ordering ?? 'instance',
      ordered: driver?.ordered?.(scope, config) ?? true,
      filter: filterPredicate(config?.filter),
      maxInFlight: 8,
      maxBatch: options.maxBatch ?? 500,
      pipeline: options.pipeline ?? 1,
      retry: forever(200, retryMaxDelayMs),
      record: 'failures',
      startAt: 'now',
      send: async (batch, sending) => {
        if (!driver) return batch.map(() => ({ kind: 'retry', error: `${prefix}_ENABLED is false` }) as Outcome);
        const messages = batch.map(({ event }) => ({ event, body: envelopeJson(event, context.envelope), scope, config }));
        return driver.publish(messages, destination, sending);
      },
    };
    return destination;
  };

  const configOf = (instance: Instance): (BrokerConfig & Record<string, unknown>) | undefined =>
    instance.channels[options.name] as (BrokerConfig & Record<string, unknown>) | undefined;

  return {
    name: options.name,
    configSchema: strictObject(nullableFields({
      enabled: booleanField(`Publish the instance's events to ${options.name} (default true).`),
      events: eventListSchema(),
      ordering: { type: 'string', enum: ['instance', 'chat'], description: 'instance (default: in log order) or chat (in order per remoteJid).' },
      filter: PAYLOAD_FILTER_SCHEMA,
      ...options.extraSchema,
    })),
    parseConfig(config: Obj, path: string) {
      const on = optionalBoolean(config, 'enabled', `${path}.enabled`) ?? true;
      return {
        enabled: on,
        events: on ? eventList(config, 'events', `${path}.events`) : [],
        ordering: oneOf(config, 'ordering', ['instance', 'chat'] as const, 'instance', `${path}.ordering`),
        filter: parsePayloadFilter(config.filter, `${path}.filter`),
        ...options.parseExtra?.(config, path),
      };
    },
    async describe(instance: Instance) {
      const config = configOf(instance);
      // As Evolution API's `find`: a configuration never set is null (a client's `if (rabbitmq)` is false).
      if (!config) return null;
      const { status, backlog, node, asOf } = await context.dispatcher.reportOf(`${options.name}:${instance.id}`);
      const connection = driver?.connection(config);
      const { enabled: on, events, ordering = 'instance', filter = null, ...extra } = config;
      return {
        enabled: on,
        events: selectedKeys(events),
        ordering,
        filter,
        ...options.describeExtra?.(extra),
        channelEnabled: enabled,
        ...(enabled ? {} : { hint: `the server has ${prefix}_ENABLED=false: set it to true to publish` }),
        state: {
          connection: connection?.state ?? 'disconnected',
          lastError: status?.lastError ?? connection?.lastError ?? null,
          backlog,
          delivered: status?.delivered ?? 0,
          filtered: status?.filtered ?? 0,
          ...(node === undefined ? {} : { node }),
          ...(asOf === undefined ? {} : { asOf }),
        },
      };
    },
    destinations(instance: Instance) {
      const config = configOf(instance);
      if (!enabled || !config?.enabled) return [];
      return [spec(`${options.name}:${instance.id}`, instance.id, config.events ? new Set(config.events) : null, 'instance', config)];
    },
    globalDestinations() {
      if (!enabled || !globalEnabled) return [];
      return [spec(`${options.name}:global`, null, globalEvents, 'global')];
    },
    async stop() {
      await driver?.close();
    },
  };
}
