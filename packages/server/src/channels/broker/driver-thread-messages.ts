import type { EventKey } from '../../core/event-names.ts';
import { LoggedEvent } from '../../store/logged-event.ts';
import type { Outcome } from '../../delivery/outcome.ts';
import type { BrokerMessage, BrokerTarget, ConnectionState } from './broker-channel.ts';

/**
 * The drivers that run on a thread of their own (driver-thread-main.ts builds them): those whose client
 * library's own work is as large as Pombo's append, so that the two in turn on one thread halve the
 * rate. Kafka's is (docs/benchmarks.md); NATS's client measured no gain on a thread, so it stays.
 */
export type ThreadedDriverName = 'kafka';

/** What the thread is started with (`workerData`). */
export interface DriverThreadData {
  readonly driver: ThreadedDriverName;
  readonly settings: unknown;
  /** The log level: the thread's records are handed to the main thread's logger. */
  readonly level: string;
  /** Events per batch (the most in one of Kafka's requests). */
  readonly batch: number;
}

/**
 * A batch as columns: arrays of strings and numbers copy between threads at a fraction of the cost of
 * as many objects. A batch is one destination's, so its messages share one scope and configuration.
 */
export interface BatchColumns {
  readonly scope: BrokerMessage['scope'];
  readonly config: BrokerMessage['config'];
  readonly bodies: string[];
  readonly pos: number[];
  readonly seq: number[];
  readonly ids: string[];
  readonly instanceIds: string[];
  readonly instances: string[];
  readonly names: EventKey[];
  readonly dataJson: string[];
  readonly extraJson: Array<string | null>;
  readonly senders: Array<string | null>;
  readonly createdAt: string[];
}

export function toColumns(batch: readonly BrokerMessage[]): BatchColumns {
  const columns: BatchColumns = {
    scope: batch[0]?.scope ?? 'instance',
    config: batch[0]?.config,
    bodies: [],
    pos: [],
    seq: [],
    ids: [],
    instanceIds: [],
    instances: [],
    names: [],
    dataJson: [],
    extraJson: [],
    senders: [],
    createdAt: [],
  };
  for (const { body, event } of batch) {
    columns.bodies.push(body);
    columns.pos.push(event.pos);
    columns.seq.push(event.seq);
    columns.ids.push(event.id);
    columns.instanceIds.push(event.instanceId);
    columns.instances.push(event.instance);
    columns.names.push(event.event);
    columns.dataJson.push(event.dataJson);
    columns.extraJson.push(event.extraJson ?? null);
    columns.senders.push(event.sender);
    columns.createdAt.push(event.createdAt);
  }
  return columns;
}

export function fromColumns(columns: BatchColumns): BrokerMessage[] {
  const { scope, config } = columns;
  return columns.bodies.map((body, n) => ({
    body,
    scope,
    config,
    event: new LoggedEvent(
      columns.pos[n]!,
      columns.ids[n]!,
      columns.instanceIds[n]!,
      columns.instances[n]!,
      columns.seq[n]!,
      columns.names[n]!,
      columns.dataJson[n]!,
      columns.senders[n]!,
      columns.createdAt[n]!,
      columns.extraJson[n]!,
    ),
  }));
}

/** A batch to publish. */
export interface PublishRequest {
  readonly kind: 'publish';
  readonly id: number;
  readonly batch: BatchColumns;
  /** A copy of just these fields: the spec itself holds functions, which do not cross threads. */
  readonly destination: BrokerTarget;
  /**
   * Until when the node may write (ms since the epoch; Infinity outside cluster mode): the thread's
   * answer to `SendContext.mayStart`, which it cannot ask across threads at the last moment.
   */
  readonly writableUntil: number;
}

export type ToThread =
  | PublishRequest
  /**
   * The lease of a batch in flight moved on: renewed (a later moment) or dropped by the node (0, from
   * `SendContext.withdrawn`): the thread writes nothing of it after that moment.
   */
  | { readonly kind: 'lease'; readonly id: number; readonly writableUntil: number }
  | { readonly kind: 'start' }
  | { readonly kind: 'close' };

export type FromThread =
  /** `null` when every message was delivered (the common answer, sent without a copy of each outcome). */
  | { readonly kind: 'outcomes'; readonly id: number; readonly outcomes: readonly Outcome[] | null }
  | { readonly kind: 'connection'; readonly state: ConnectionState; readonly lastError: string | null }
  | { readonly kind: 'log'; readonly line: string }
  | { readonly kind: 'closed' };
