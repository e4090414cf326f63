import type { EventKey } from '../core/event-names.ts';
import type { AppendInterest, AppendListener } from './append-interest.ts';

/** One event as the log holds it. `pos` orders the whole log; `seq` orders one instance's events, with no gaps. */
export interface StoredEvent {
  readonly pos: number;
  readonly id: string;
  readonly instanceId: string;
  readonly instance: string;
  readonly seq: number;
  readonly event: EventKey;
  /** The event's data; an event read back from the log parses it only when something looks inside. */
  readonly data: unknown;
  /** `data` as the JSON text the log holds: what channels put in their payloads as it is. */
  readonly dataJson: string;
  /**
   * Members the envelope carries besides Evolution API's own (`{"isLatest":true,"progress":100}` on a
   * history sync's MESSAGES_SET), as a JSON object's text; null or absent when there are none.
   */
  readonly extraJson?: string | null;
  readonly sender: string | null;
  readonly createdAt: string;
}

export interface AppendRequest {
  instanceId: string;
  event: EventKey;
  data: unknown;
  /** A producer's own id for the event: a second append with the same one returns the first event. */
  producerId?: string | undefined;
  /** Envelope members beside `data` (see StoredEvent.extraJson). */
  extra?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * A request's hold on its Idempotency-Key, taken in the commit that appends its events: the key then
 * belongs to that request (until retention deletes the last of the events it stored), and a call with
 * another fingerprint under it appends nothing (IdempotencyKeyTakenError).
 */
export interface KeyClaim {
  readonly instanceId: string;
  readonly key: string;
  /** What makes two requests the same request (sources/ingest/request-fingerprint.ts). */
  readonly fingerprint: string;
}

/** The request that holds an Idempotency-Key: its fingerprint and the events it stored, in its order. */
export interface KeyHolder {
  readonly fingerprint: string;
  readonly eventIds: readonly string[];
}

export interface AppendResult {
  event: StoredEvent;
  duplicate: boolean;
}

export interface ReadQuery {
  afterPos?: number;
  /** Inclusive upper bound on `pos`. */
  untilPos?: number;
  instanceId?: string;
  events?: readonly EventKey[];
  fromTime?: string;
  toTime?: string;
  limit: number;
}

/** Pombo's sources (`SANDBOX`, `INGEST`) and Evolution API's names for them (see instances/integration.ts). */
export type Integration = 'SANDBOX' | 'INGEST' | 'WHATSAPP-BAILEYS' | 'WHATSAPP-BUSINESS' | 'EVOLUTION';
export type ConnectionState = 'open' | 'connecting' | 'close';

export interface Instance {
  readonly id: string;
  readonly name: string;
  readonly token: string;
  readonly integration: Integration;
  readonly number: string | null;
  readonly state: ConnectionState;
  /** The connected number's JID; the envelope's `sender`. */
  readonly ownerJid: string | null;
  readonly profileName: string | null;
  readonly createdAt: string;
  /** Per-channel configuration, keyed by channel (`webhook`, `rabbitmq`, …), as each channel validated it. */
  readonly channels: Readonly<Record<string, unknown>>;
  /**
   * How many times the instance was written (1 when created): the store raises it in each statement that
   * writes one of the members above (not in an append, which moves only the log's sequence), so of two copies of one instance the one with the higher version is the newer,
   * whatever order they were read in (a cluster node keeps that one: InstanceService). Internal: no
   * answer of the API shows it.
   */
  readonly version: number;
}

/**
 * What an atomic edit makes of an instance's channel configurations: the ones to set, by channel (the
 * others are kept). It may be called more than once for one edit (PostgreSQL: when another edit wrote
 * the row between this one's read and its write), each time with the row as stored then: only the last
 * call's answer is written, so anything it records beside its answer must be set anew on each call.
 */
export type ChannelsEdit = (stored: Instance) => Readonly<Record<string, unknown>>;

export type NewInstance = Omit<Instance, 'createdAt' | 'state' | 'ownerJid' | 'profileName' | 'version'>;
export type InstancePatch = Partial<Pick<Instance, 'state' | 'ownerJid' | 'profileName' | 'number'>>;

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface DeliveryAttempt {
  /** Which attempt of the delivery it was (1 for the first), counted across restarts: a record keeps the last 20. */
  number?: number;
  at: string;
  durationMs: number;
  statusCode?: number;
  error?: string;
  response?: string;
}

/** The state of one event for one destination. */
export interface DeliveryRecord {
  destination: string;
  pos: number;
  eventId: string;
  instanceId: string;
  event: EventKey;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  /** When a pending delivery is due (ms since epoch); null while it waits behind an earlier one of its lane. */
  nextAttemptAt: number | null;
}

export interface DeliveryQuery {
  destination: string;
  status?: DeliveryStatus;
  event?: EventKey;
  afterPos?: number;
  limit: number;
}

/** The append-only event log: every event is written once here before anything else sees it. */
export interface EventLog {
  /**
   * Appends a call's events, all or nothing. With a claim, the call appends only if the key is free or
   * was claimed with the same fingerprint (a retry: its events are duplicates by their producer ids, and
   * those retention deleted are appended again); otherwise it fails with IdempotencyKeyTakenError. An
   * empty call appends nothing and claims nothing, whoever holds its key.
   */
  append(requests: readonly AppendRequest[], claim?: KeyClaim): Promise<AppendResult[]>;
  /**
   * The request that holds an instance's Idempotency-Key, undefined when the key is free. A look-up
   * only: it claims nothing, and another request may take the key before the next append.
   */
  keyHolder(instanceId: string, key: string): Promise<KeyHolder | undefined>;
  read(query: ReadQuery): Promise<StoredEvent[]>;
  getByIds(ids: readonly string[]): Promise<StoredEvent[]>;
  /** The position of the newest event (0 when the log is empty). */
  headPosition(): Promise<number>;
  /** The position of the oldest retained event (undefined when the log is empty). */
  tailPosition(): Promise<number | undefined>;
  /**
   * The position of an instance's newest event (0 when it has none). Of a deleted instance: its
   * removal event, the last thing appended for it before its row went (appends need the row).
   */
  lastPositionOf(instanceId: string): Promise<number>;
  /**
   * How many events the log holds at positions after `afterPos`, up to `untilPos`. Positions are
   * handed out without holes and only retention deletes events, so fewer than `untilPos - afterPos`
   * means some in that range were pruned (even where a pending delivery kept an older one).
   */
  countBetween(afterPos: number, untilPos: number): Promise<number>;
  /** How many of an instance's events the log holds at positions after `afterPos`, up to `untilPos` (a range of its index). */
  countOfInstance(instanceId: string, afterPos: number, untilPos: number): Promise<number>;
  /**
   * Deletes events created before `before`, except those a pending delivery still needs, and the key
   * claims made before `before` none of whose events is left.
   */
  prune(before: Date): Promise<number>;
  /**
   * Called after each commit with the events it made durable, in position order, and what the run
   * holds. With several writers (cluster mode), other nodes' events are read for `interest` only (a
   * listener without one gets every event).
   */
  onAppend(listener: AppendListener, interest?: () => AppendInterest): () => void;
}

export interface InstanceRepository {
  createInstance(instance: NewInstance): Promise<Instance>;
  getInstance(name: string): Promise<Instance | undefined>;
  getInstanceById(id: string): Promise<Instance | undefined>;
  listInstances(): Promise<Instance[]>;
  /**
   * The instance as written; undefined when there is no such instance (deleted meanwhile, here or on
   * another node). Rejects with `OwnerJidTakenError`, writing nothing, when the patch's `ownerJid` is
   * another instance's (a number is one instance's).
   */
  updateInstance(id: string, patch: InstancePatch): Promise<Instance | undefined>;
  /**
   * Changes channel configurations from what is stored when the change is made, not from a copy read
   * earlier: edits of one instance from any number of callers, on this node or another sharing the
   * store, apply one after the other and none is lost. `change` gets the stored instance and returns the
   * configurations to set, by channel (it may be called again: see ChannelsEdit); when it throws, nothing
   * changes and the edit rejects with its error. Undefined when there is no such instance (also when it
   * is deleted during the edit).
   */
  editChannels(id: string, change: ChannelsEdit): Promise<Instance | undefined>;
  deleteInstance(id: string): Promise<void>;
}

/** A destination's state as its ledger keeps it (see DeliveryLedger.ledgerFigures). */
export interface LedgerFigures {
  /** Undefined when the destination never ran (it starts at the log's head). */
  readonly cursor: number | undefined;
  /** Deliveries recorded as pending (retries, replays) at or behind the cursor. */
  readonly pending: number;
  /** Deliveries recorded as failed: its dead letters. */
  readonly failed: number;
}

/** Delivery state per destination: its cursor in the log and the records of its deliveries. */
export interface DeliveryLedger {
  getCursor(destination: string): Promise<number | undefined>;
  /** Writes records and, atomically with them, the destination's new cursor. */
  saveDeliveries(destination: string, records: readonly DeliveryRecord[], cursor?: number): Promise<void>;
  listDeliveries(query: DeliveryQuery): Promise<DeliveryRecord[]>;
  /** The failed deliveries (dead letters) of these destinations, at most `perDestination` of each, oldest first, destination by destination. */
  failedDeliveries(destinations: readonly string[], perDestination: number): Promise<DeliveryRecord[]>;
  /** Pending deliveries of one destination, oldest first. */
  pendingDeliveries(destination: string, limit: number): Promise<DeliveryRecord[]>;
  /**
   * What the ledger keeps of these destinations, in one read (a disabled webhook's figures, which no
   * worker holds): each one's cursor, its pending records at or behind it, and its dead letters. Counts
   * over the records of each destination that are not delivered, never the log.
   */
  ledgerFigures(destinations: readonly string[]): Promise<Map<string, LedgerFigures>>;
  /**
   * Deletes a destination's cursor and records; with `children`, those of every destination whose id
   * is `<destination>:…` too (a realtime feed's subscribers).
   */
  deleteDestination(destination: string, options?: { children?: boolean }): Promise<void>;
  /** The ids of the destinations `<destination>:…` that have a cursor (a realtime feed's subscribers). */
  listChildren(destination: string): Promise<string[]>;
}

/** A node of a cluster as the database knows it. */
export interface ClusterNodeRow {
  id: string;
  url: string;
  startedAt: string;
  heartbeatAt: string;
  /** Whether its heartbeat still holds (the database's clock decides). */
  alive: boolean;
}

export interface LeaseRow {
  destination: string;
  nodeId: string | null;
  epoch: number;
  expiresAt: string;
}

/**
 * What several Pombos on one database share besides the log (docs/cluster.md): their heartbeats and
 * the leases of destinations. Every time is the database's clock, so nodes' clocks may disagree.
 */
export interface ClusterStore {
  /** Records this node as alive for `ttlMs`; `first`: this process's first heartbeat (its start time is now). */
  heartbeat(node: { id: string; url: string; first?: boolean }, ttlMs: number): Promise<void>;
  /** Removes the node and frees its leases (a clean shutdown). */
  leave(nodeId: string): Promise<void>;
  nodes(): Promise<ClusterNodeRow[]>;
  leases(): Promise<LeaseRow[]>;
  /**
   * Extends the leases the node still holds at these epochs, publishing with each its destination's
   * status (`statuses`, JSON) for the other nodes; answers those it holds (the others are lost).
   */
  renew(nodeId: string, held: ReadonlyMap<string, number>, ttlMs: number, statuses?: ReadonlyMap<string, string>): Promise<Map<string, number>>;
  /** Takes up to `max` of these destinations whose lease is free or expired, each with a new epoch. */
  claim(nodeId: string, wanted: readonly string[], max: number, ttlMs: number): Promise<Map<string, number>>;
  /** Frees leases the node holds at these epochs. */
  release(nodeId: string, held: ReadonlyMap<string, number>): Promise<void>;
  /**
   * From now on the destination's cursor and delivery writes of this store commit only while the lease
   * is the node's at `epoch`; a write made after the lease went elsewhere is rejected (LeaseLostError).
   */
  fence(destination: string, nodeId: string, epoch: number): void;
  /**
   * Called for each write rejected because its lease moved, with the epoch the write held: a destination's
   * cursor or delivery write (`fence`), or a realtime subscriber's floor or dead-letter write (`fenceSubscriber`).
   */
  onFencedWrite?: (id: string, epoch: number, kind: LeaseKind) => void;
  /** Sets a destination's first cursor unless it has one: the first node to see the destination decides. */
  initCursor(destination: string, pos: number): Promise<void>;
  /**
   * Takes durable realtime subscribers for the node, whoever held them (a subscriber is served where its
   * newest connection attached), each with a new epoch; the other nodes hear of it (`onTakeover`).
   */
  takeOverSubscribers(nodeId: string, subscribers: readonly string[]): Promise<Map<string, number>>;
  /** Which of these subscribers are still the node's at these epochs. */
  heldSubscribers(nodeId: string, held: ReadonlyMap<string, number>): Promise<Set<string>>;
  /** As `fence`, for a subscriber's floor and dead-letter writes. */
  fenceSubscriber(subscriber: string, nodeId: string, epoch: number): void;
  /** Stops checking the writes of a destination or subscriber (it no longer runs on this node). */
  unfence(id: string): void;
  /** Hears takeovers by any node, as they commit; one can be missed while the database connection is down. */
  onTakeover(listener: (takeover: SubscriberTakeover) => void): () => void;
  /** What the database knows of leased destinations, for the nodes that do not run them. */
  destinationStates(destinations: readonly string[]): Promise<Map<string, LeasedDestinationState>>;
  /** Queues a replay of these events for the node that holds the destination's lease, and tells it. */
  queueReplay(destination: string, eventIds: readonly string[]): Promise<void>;
  /** The replays queued for these destinations whose lease is the node's, oldest first. */
  queuedReplays(nodeId: string, destinations: readonly string[]): Promise<QueuedReplay[]>;
  /** Removes replays once they are handed to their destinations. */
  finishReplays(ids: readonly number[]): Promise<void>;
  /** Hears replays queued by any node, as they commit; one can be missed while the database connection is down. */
  onReplayQueued(listener: (destination: string) => void): () => void;
  /**
   * Hears the instance rows other nodes write (configuration, state), as they commit; one can be
   * missed while the database connection is down (the periodic refresh takes it in).
   */
  onInstanceWritten(listener: (instanceId: string) => void): () => void;
}

/** What the database knows of a leased destination (cluster mode). */
export interface LeasedDestinationState {
  /** The node whose lease holds now; null when none does (between two holders). */
  readonly nodeId: string | null;
  readonly cursor: number | undefined;
  /** The status its holder (or last holder) published at its last renewal, as JSON, and when. */
  readonly status: string | null;
  readonly statusAt: string | null;
}

/** A replay asked on a node that did not hold the destination, waiting for the one that does. */
export interface QueuedReplay {
  readonly id: number;
  readonly destination: string;
  readonly eventIds: readonly string[];
}

/** What a lease is held for: a webhook or broker destination, or a durable realtime subscriber. */
export type LeaseKind = 'destination' | 'subscriber';

/** A node took a durable realtime subscriber over. */
export interface SubscriberTakeover {
  readonly subscriber: string;
  readonly nodeId: string;
  readonly epoch: number;
}

export interface Store extends EventLog, InstanceRepository, DeliveryLedger {
  readonly provider: string;
  /** Present where several Pombos may share the store (PostgreSQL). */
  readonly cluster?: ClusterStore;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
