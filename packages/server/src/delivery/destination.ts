import type { EventKey } from '../core/event-names.ts';
import type { StoredEvent } from '../store/types.ts';
import type { CircuitOptions } from './circuit-breaker.ts';
import type { Outcome } from './outcome.ts';
import type { RetryPolicy } from './retry-policy.ts';

/** One event handed to a channel, with how many times it was tried before. */
export interface Delivery {
  readonly event: StoredEvent;
  readonly previousAttempts: number;
}

/** What a channel may ask while it sends. */
export interface SendContext {
  /**
   * Whether a request may still leave now (cluster mode: the node's lease is surely still its own). The
   * worker asks before each send; a channel that can ask again right before its request is written
   * (webhooks) does, as a send that waited for a connection, or whose process was paused in between,
   * would otherwise arrive after the node lost its lease, behind the new holder's deliveries.
   */
  mayStart(): boolean;
  /**
   * For a channel that cannot ask `mayStart` where it writes (a driver on its own thread): until when
   * `mayStart` holds as of now (ms since the epoch; later once the node renews its lease), and
   * `withdrawn`, aborted when the node drops the lease (its worker stops). Such a channel asks those
   * where the others ask `mayStart`.
   */
  writableUntil(): number;
  readonly withdrawn: AbortSignal;
}

/** The SendContext of a lease sure until `writableUntil()`, unless `withdrawn` aborts first. */
export function leaseContext(writableUntil: () => number, withdrawn: AbortSignal): SendContext {
  return { mayStart: () => !withdrawn.aborted && Date.now() < writableUntil(), writableUntil, withdrawn };
}

/**
 * How events that must stay in order are grouped: `none` delivers every event independently,
 * `instance` one lane per instance, `chat` one lane per chat (`remoteJid`) with chats in parallel.
 */
export type Ordering = 'none' | 'instance' | 'chat';

/** What names a destination in metrics and logs, and the retry policy that says when it gives up. */
export interface DestinationRef extends Pick<DestinationSpec, 'id' | 'channel' | 'instanceId' | 'retry'> {
  /**
   * Gets its events from a relay (a realtime subscriber from its feed), which observes their delivery
   * latency once for all its targets, when it hands them on: its own deliveries are counted only.
   */
  readonly relayed?: boolean;
}

/**
 * One configured target: the global webhook, an instance's RabbitMQ publishing, a realtime
 * subscriber… The dispatcher keeps its cursor in the log and its pending retries in the store.
 */
export interface DestinationSpec {
  /** Stable across restarts: the key of its cursor and delivery records. */
  readonly id: string;
  /** The channel kind, for logs and metrics (`webhook`, `rabbitmq`, …). */
  readonly channel: string;
  /** Only this instance's events; null for every instance. */
  readonly instanceId: string | null;
  /** Only these events; null for all. */
  readonly events: ReadonlySet<EventKey> | null;
  /**
   * A payload filter (core/payload-filter.ts): events it refuses are skipped and counted (`filtered`),
   * and the cursor moves past them; the log keeps them, for a replay under another filter.
   */
  readonly filter?: ((event: StoredEvent) => boolean) | undefined;
  readonly ordering: Ordering;
  /**
   * False for a target that keeps no order of its own (an SQS standard queue): its lanes only group
   * events into batches, and an event it took is never sent again because one before it in the batch
   * failed. Default: true unless `ordering` is `none` (an ordered lane stops at its first failure, and
   * what follows goes again after it).
   */
  readonly ordered?: boolean;
  /** Deliveries in flight at once. */
  readonly maxInFlight: number;
  /** Events of one lane handed to `send` at once (brokers publish a batch, then await confirms). */
  readonly maxBatch: number;
  /**
   * Batches of one lane in flight at once (default 1). Above 1 the next batch of a lane goes out before
   * the previous one is answered, for channels that keep the send order on one connection (broker
   * confirms); a batch answered behind a failure goes again after it, as the rest of a failed batch does.
   */
  readonly pipeline?: number;
  readonly retry: RetryPolicy;
  /** `all` writes a record per delivery (the webhook delivery log); `failures` only dead letters. */
  readonly record: 'all' | 'failures';
  /** Where a destination with no cursor yet starts: at the log's head (`now`) or at its tail. */
  readonly startAt: 'now' | 'beginning';
  /**
   * Set: the destination starts after this position and keeps its cursor in memory only, never read
   * from or written to the store (a realtime feed: each node runs its own, from where it started).
   */
  readonly inMemoryFrom?: number;
  /**
   * Hands events on to targets that report their own outcomes (a realtime feed's subscribers, through
   * `Dispatcher.reportOutcome`): its hand-offs are not counted as deliveries, only their latency is
   * observed (append → handed on), once per event for all the targets.
   */
  readonly relay?: boolean;
  readonly circuit?: CircuitOptions;
  /**
   * How long after a change its cursor is saved (default 5 ms). Longer for destinations with many
   * small deliveries (a realtime subscriber per client): fewer writes; after a crash, only what was
   * delivered in that last moment goes again.
   */
  readonly saveDelayMs?: number;
  /** Delivers a batch (one lane, in order); answers one outcome per delivery, in the same order. */
  send(batch: readonly Delivery[], context?: SendContext): Promise<Outcome[]>;
}

/** The lane key of an event under an ordering; distinct events get distinct keys under `none`. */
export function laneOf(event: StoredEvent, ordering: Ordering): string {
  if (ordering === 'none') return `#${event.pos}`;
  if (ordering === 'instance') return event.instanceId;
  return `${event.instanceId}/${chatOfEvent(event) ?? ''}`;
}

/** How the log's JSON text of most Evolution events begins (`JSON.stringify` of `{ key: { remoteJid, … }, … }`). */
const KEY_JID_PREFIX = '{"key":{"remoteJid":"';

/**
 * The chat of an event, as `chatOf(event.data)`, without parsing the data when its stored text begins
 * with `{"key":{"remoteJid":"`: a backlog read from the log (a drain) then costs a string scan per
 * event instead of a JSON.parse. The log's text is always `JSON.stringify`'s (no whitespace, no
 * repeated member), so that first member is the one `chatOf` reads; a jid with an escape in it
 * (`\`) is left to the parser.
 */
export function chatOfEvent(event: StoredEvent): string | undefined {
  const text = event.dataJson;
  if (text.startsWith(KEY_JID_PREFIX)) {
    const start = KEY_JID_PREFIX.length;
    const jid = text.slice(start, text.indexOf('"', start));
    if (!jid.includes('\\')) return jid;
  }
  return chatOf(event.data);
}

/** The chat an event belongs to: `key.remoteJid`, `remoteJid`, or `id` of its data. */
export function chatOf(data: unknown): string | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  const record = data as Record<string, unknown>;
  const key = record.key as Record<string, unknown> | undefined;
  const jid = key?.remoteJid ?? record.remoteJid ?? record.id;
  return typeof jid === 'string' ? jid : undefined;
}
