import type { FastifyInstance } from 'fastify';
import type { DestinationSpec } from '../delivery/destination.ts';
import type { DisabledDestination } from '../delivery/dispatcher.ts';
import type { JsonSchema } from '../core/schemas.ts';
import type { Obj } from '../core/validate.ts';
import type { Instance } from '../store/types.ts';

/** A client connected to a channel (a Socket.IO socket, a realtime WebSocket), as the manager lists it. */
export interface ConnectedClient {
  /** The instance's name, `*` for a connection with the global key to every instance. */
  readonly instance: string;
  /** Which client: a socket id, a subscriber name. */
  readonly client: string;
  readonly address: string | undefined;
  /** Milliseconds since the epoch. */
  readonly connectedAt: number;
  /** A short description of what it receives. */
  readonly detail: string;
}

/** A durable subscriber of a channel, by its ledger id. */
export interface SubscriberDestination {
  readonly id: string;
  readonly instanceId: string;
}

/** Where an instance's log stands when its config is replaced: the time, and the position of its last stored event (0: none). */
export interface LogMoment {
  readonly now: number;
  readonly position: number;
}

/**
 * One kind of destination (webhook, rabbitmq, …). A channel validates its per-instance config,
 * says which destinations a config asks for, and delivers; the dispatcher does the rest.
 * Its `name` is the config's body key (`{"webhook": {…}}`) and its route prefix (`/webhook/set/:instanceName`).
 */
export interface ChannelModule {
  readonly name: string;
  /**
   * The JSON Schema of the object under the channel's key (`{"webhook": {…}}`): it validates
   * `/<name>/set` and `/instance/create` bodies (unknown fields refused) and is their OpenAPI doc.
   */
  readonly configSchema: JsonSchema;
  /**
   * Checks what the schema cannot (event names, URLs, …) and returns the config to store; throws a PomboError (400)
   * naming the field. `stored` is the config it replaces, when there is one (values sent back as `find` masked them).
   */
  parseConfig(config: Obj, path: string, stored?: unknown): unknown | Promise<unknown>;
  /**
   * What `POST /<name>/set` stores, from the parsed config and the one it replaces (undefined when none),
   * at a moment of the instance's log: for what a config keeps of its history (a webhook's pause).
   * Default: the parsed config as it is.
   */
  replacing?(previous: unknown, config: unknown, at: LogMoment): unknown;
  /** What `GET /<name>/find/:instanceName` returns: the config with secrets masked, and live state (cluster mode: may read it from the database). */
  describe(instance: Instance): unknown | Promise<unknown>;
  /**
   * The destinations an instance's stored config asks for, built from its id and `channels` only: a
   * write that changes neither (a connect, a logout) does not build them again (InstanceService.takeIn).
   */
  destinations(instance: Instance): DestinationSpec[];
  /**
   * The destinations an instance's stored config keeps without running them (a disabled webhook, whose
   * cursor and records wait in the store): still reported, with their dead letters and lag. Built like `destinations`.
   */
  disabledDestinations?(instance: Instance): DisabledDestination[];
  /** Destinations configured by the environment (global mode). */
  globalDestinations(): DestinationSpec[];
  /** Routes beyond set/find (e.g. the webhook delivery log). */
  routes?(app: FastifyInstance): void;
  /**
   * After an instance is deleted (gone from the store, its token forgotten): ends what the channel
   * keeps for it beyond its destinations (live connections, positions). `removalPos` is the position
   * of its last event, REMOVE_INSTANCE; undefined when the instance was deleted on another node (the
   * channel reads it from the log if it needs it). Never rejects: failures are the channel's to log.
   */
  released?(instance: Instance, removalPos: number | undefined): Promise<void>;
  /** The clients connected to the channel now (channels that serve connections). */
  clients?(): ConnectedClient[];
  /**
   * The channel's durable subscribers, connected or not (realtime): destinations of the dispatcher's
   * contract that none of its workers runs. The manager lists their dead letters with the workers'.
   */
  subscribers?(): Promise<SubscriberDestination[]>;
  stop?(): Promise<void>;
}
