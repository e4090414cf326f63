import { asyncDispose } from '../dispose.ts';
import { type GapData, PomboGapError, PomboRealtimeError } from '../errors.ts';
import { fullJitter } from './backoff.ts';
import { EVENT_TYPES, LIFECYCLE_EVENTS, OTHER_EVENT_TYPES } from './event.ts';
import type { CloseHandler, ErrorHandler, EventHandler, EventType, LifecycleEvent, OpenHandler, OtherEventType, PomboEvent } from './event.ts';
import type { EventFilterName } from './event-names.ts';
import { handlerContext } from './handler-context.ts';
import { RecentIds } from './recent-ids.ts';
import { warnUnhandledError } from './unhandled-error.ts';
import { OPEN, type Liveness, type SocketLike, type Transport } from './transport.ts';

/** How long a connection must stay open to count as a success (the run of failed attempts starts again). */
const STABLE_MS = 5_000;

/**
 * How long a connection that may be refused after its upgrade (a browser's) must stay open, with no
 * frame, to count as accepted: the server writes the refusal's close right behind the upgrade.
 */
const CONFIRM_MS = 100;

/** The server's default `REALTIME_PING_INTERVAL_MS`. */
const PING_INTERVAL_MS = 30_000;
/** Beyond two ping intervals: the time a ping may take to arrive, and a busy event loop. */
const LIVENESS_GRACE_MS = 1_000;

export interface SubscribeRequest {
  /** The instance's id or name. */
  instanceId: string;
  /** The instance token; without it the client's API key is used. */
  instanceToken?: string;
  /**
   * VZaps realtime types (`Message`, `Connected`, …), `All`, or event names in any form (`MESSAGES_UPSERT`,
   * `messages.upsert`, `messages-upsert`); all when empty. Not `Gap`: every subscription gets those.
   * Any string: names read from configuration (`string[]`) and the spellings the server also accepts
   * (`messages_upsert`) compile, the known ones autocomplete; the server refuses an unknown name, and
   * `subscribe()` rejects with a `PomboRealtimeError` (400) naming it.
   */
  events?: ReadonlyArray<EventFilterName | (string & {})>;
  /** Connections with the same subscriber name share the events; each name gets every event. Default `default`. */
  subscriber?: string;
  /** Reconnect after a lost connection, resuming after the last acknowledged event. Default true. */
  reconnect?: boolean;
  /** Failed connection attempts in a row before giving up (a connection that closes within 5 s of opening counts as failed). Default: no limit. */
  maxRetries?: number;
  /** The first reconnect delay's ceiling; each attempt doubles it (full jitter). Default 500 ms. */
  retryDelayMs?: number;
  /** The largest reconnect delay ceiling. Default 30 s. */
  maxRetryDelayMs?: number;
  /** Resume cursor: the server resends what came after it (or its own ack floor, if earlier). */
  lastEventId?: string;
  /** Skip redeliveries of the last N events already handled (`true`: 1,000). Default off. */
  dedupe?: boolean | number;
  /** Events handled at once. Default 1 (in arrival order). */
  concurrency?: number;
  /**
   * The events the server sends before their acks come back (the handshake's `max_in_flight`, capped by
   * the server's `REALTIME_MAX_IN_FLIGHT`). The others wait on the server, not in this process: none sits
   * in the queue past the server's ack wait, is sent again, and is dead-lettered after
   * `REALTIME_MAX_DELIVER` sends while a slow handler works through a backlog. Default
   * `20 × concurrency`: handlers of up to about 10 s each with the server's defaults. Raise it for fast
   * handlers far from the server (it bounds the events per round trip).
   */
  maxInFlight?: number;
  /** Closes the subscription when aborted, as `subscribe()`'s second argument does. */
  signal?: AbortSignal;
  /** Where credentials go: headers when the WebSocket implementation can send them (Node), else the query. */
  credentials?: 'headers' | 'query';
  /**
   * The server's ping interval (its `REALTIME_PING_INTERVAL_MS`). With the `ws` transport, a connection
   * that gets no ping and no event for twice this plus 1 s is taken as dead: closed, then reconnected.
   * `0` turns that off. Default 30 s, the server's default.
   */
  pingIntervalMs?: number;
  /** Also reachable with `sub.on('error', …)`. */
  onError?: ErrorHandler;
}

/** Everything a subscription needs besides the request: the URL, the key and the socket factory. */
export interface SubscriptionContext {
  realtimeUrl: string;
  apiKey: string | undefined;
  transport: Transport;
}

type State = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Events the server sends ahead of their acks per handler running at once (`maxInFlight`'s default). */
const DEFAULT_WINDOW_PER_HANDLER = 20;

/** Events held at most before the first handler (the server's window, REALTIME_MAX_IN_FLIGHT, is 1,000 by default). */
const MAX_HELD = 10_000;

/**
 * Acknowledged ids kept per connection to recognise stale copies: a copy can only be one the server
 * sent before it read the ack, so at most its window (1,000 by default) of them are on the way.
 */
const ACKED_KEPT = 10_000;

/** The names of event handlers: a type, or `All`. */
type HandlerType = EventType | OtherEventType | 'All';

/** What `on()` accepts besides the lifecycle names: an unknown name (`message`) throws instead of never matching. */
const EVENT_NAMES: ReadonlySet<string> = new Set([...EVENT_TYPES, ...OTHER_EVENT_TYPES, 'All']);

function checkName(type: string): void {
  if (type === 'error' || EVENT_NAMES.has(type) || (LIFECYCLE_EVENTS as readonly string[]).includes(type)) return;
  const valid = [...EVENT_TYPES, 'All', 'error', ...LIFECYCLE_EVENTS].join(', ');
  throw new TypeError(`unknown event "${type}": use one of ${valid}, or the UPPER_SNAKE type of an event with no word for it (OTHER_EVENT_TYPES: QRCODE_UPDATED, …)`);
}

interface Registration {
  readonly type: string;
  readonly handler: EventHandler;
}

/** An event the server can be told it was handled: one with an id (only those are tracked as in hand and acknowledged). */
const acknowledgeable = (event: PomboEvent): boolean => typeof event.id === 'string' && event.id !== '';

/**
 * A realtime subscription: handlers per event type, an ack once every handler of an event has
 * finished, and reconnection with backoff that resumes after the last acknowledged event.
 *
 * Events wait until the first event handler is registered (`error`, `open` and `close` are not event
 * handlers): a subscriber that resumes gets its backlog as soon as the socket opens, often in the
 * same read as the handshake, before `subscribe()`'s caller could call `on()`; handled then, they would be acknowledged with no handler run. Held events are
 * not acknowledged, so the server sends them again after a reconnect: a lost connection drops them.
 */
export class EventSubscription {
  private readonly registrations: Registration[] = [];
  /** Set once the first event handler is registered (and the handlers registered with it in the same turn). */
  private dispatching = false;
  /**
   * The ids of the events queued (held, before the first handler) or being handled, until their ack is
   * sent: the server resends an event after its ack wait, and that copy is dropped (the first one's
   * ack covers it) instead of being queued behind a slow handler, again at each ack wait.
   */
  private readonly inHand = new Set<string>();
  /**
   * The ids acknowledged on the current connection. The server resends an event at each ack wait
   * until it reads the ack, so a copy it sent just before can arrive after the ack left: on the same
   * connection that copy is stale, and is acknowledged again instead of handled twice. A new
   * connection starts empty (a copy there may be owed: an ack sent on a closing socket can be lost).
   */
  private ackedOnConnection = new RecentIds(ACKED_KEPT);
  /** The handlers of each type, in registration order (`All` ones included); rebuilt when handlers change. */
  private readonly handlersByType = new Map<string, readonly EventHandler[]>();
  private readonly errorHandlers = new Set<ErrorHandler>();
  private readonly openHandlers = new Set<OpenHandler>();
  private readonly closeHandlers = new Set<CloseHandler>();
  private readonly queue: PomboEvent[] = [];
  /** The events whose (async) handlers are running, and the promise of each. */
  private readonly running = new Map<PomboEvent, Promise<void>>();
  /** Which event's handlers are calling (Node): `close()` from a handler does not wait for itself. */
  private readonly calling = handlerContext();
  private readonly recent: RecentIds | undefined;
  private socket: SocketLike | undefined;
  private stateValue: State = 'connecting';
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ends the run of failed attempts once a connection has stayed open STABLE_MS. */
  private stableTimer: ReturnType<typeof setTimeout> | undefined;
  private acked: string | undefined;
  /** Ids to acknowledge at the end of this turn (ids only: the events themselves are not kept alive). */
  private pendingAcks: string[] = [];
  /** The resume point those acks move to (a `Gap` is not one). */
  private pendingResume: string | undefined;
  private readonly sendAcks = (): void => this.flushAcks();
  private outcome: { error?: Error } | undefined;
  /**
   * Settles once the socket the subscription closed is closed: the server answers a close only once it
   * has written what the acks sent before it moved (docs/realtime-protocol.md), so none of those events
   * comes again, even if the server stops the next moment (at most CLOSE_WAIT_MS).
   */
  private socketClosed: Promise<void> = Promise.resolve();
  private readonly closedWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private readonly opened: Promise<void>;
  /** Removed when the subscription ends: a long-lived signal (a process's shutdown) outlives many subscriptions. */
  private readonly stopOnAbort: (() => void) | undefined;
  private settleOpen: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** A connection was confirmed open: from then on `subscribe()` has resolved, and no longer carries a failure. */
  private everOpened = false;
  /** Whether the one warning of a subscription with no error handler was written. */
  private warnedUnhandled = false;

  constructor(
    private readonly request: SubscribeRequest,
    private readonly context: SubscriptionContext,
    signal?: AbortSignal,
  ) {
    const dedupe = request.dedupe === true ? 1000 : request.dedupe || 0;
    this.recent = dedupe > 0 ? new RecentIds(dedupe) : undefined;
    if (request.onError) this.errorHandlers.add(request.onError);
    this.opened = new Promise((resolve, reject) => (this.settleOpen = { resolve, reject }));
    if (signal && !signal.aborted) {
      const stop = (): void => void this.close();
      signal.addEventListener('abort', stop, { once: true });
      this.stopOnAbort = () => signal.removeEventListener('abort', stop);
    }
    if (signal?.aborted) this.finish();
    else this.connect();
  }

  /** Resolves once the first connection is open; rejects if it never could be. */
  ready(): Promise<this> {
    return this.opened.then(() => this);
  }

  get state(): State {
    return this.stateValue;
  }

  /** The id of the last event this subscription acknowledged (the resume point of a reconnect). */
  get lastEventId(): string | undefined {
    return this.acked ?? this.request.lastEventId;
  }

  /**
   * Adds a handler for one type (`Message`, `Connected`, …, `Gap`, or an UPPER_SNAKE type), `All`,
   * `error`, or a lifecycle event (`open`, `close`). The first event handler starts the delivery of
   * the events held until then; `error`, `open` and `close` do not. An unknown name throws a TypeError
   * (any string compiles, for a name read from configuration; the known ones autocomplete).
   */
  on(type: 'error', handler: ErrorHandler): this;
  on(type: 'open', handler: OpenHandler): this;
  on(type: 'close', handler: CloseHandler): this;
  on(type: HandlerType, handler: EventHandler): this;
  // Any other string, so that a name read from configuration compiles, but not 'error', 'open' or 'close' with an event handler.
  on<Name extends string>(type: Name extends 'error' | LifecycleEvent ? never : Name, handler: EventHandler): this;
  on(type: string, handler: EventHandler | ErrorHandler | OpenHandler | CloseHandler): this {
    checkName(type);
    if (type === 'error') this.errorHandlers.add(handler as ErrorHandler);
    else if (type === 'open') this.openHandlers.add(handler as OpenHandler);
    else if (type === 'close') this.closeHandlers.add(handler as CloseHandler);
    else {
      this.registrations.push({ type, handler: handler as EventHandler });
      // The events held so far start once this turn's other `on()` calls are in.
      if (!this.dispatching) queueMicrotask(() => this.startDispatching());
    }
    this.handlersByType.clear();
    return this;
  }

  /** Removes a handler added with `on()`. An unknown name throws a TypeError, as with `on()`. */
  off(type: HandlerType | 'error' | LifecycleEvent | (string & {}), handler: EventHandler | ErrorHandler | OpenHandler | CloseHandler): this {
    checkName(type);
    if (type === 'error') this.errorHandlers.delete(handler as ErrorHandler);
    if (type === 'open') this.openHandlers.delete(handler as OpenHandler);
    if (type === 'close') this.closeHandlers.delete(handler as CloseHandler);
    const index = this.registrations.findIndex((registration) => registration.type === type && registration.handler === handler);
    if (index >= 0) this.registrations.splice(index, 1);
    this.handlersByType.clear();
    return this;
  }

  /** Resolves when the subscription has closed; rejects with a `PomboRealtimeError` if it ended in failure. */
  waitForClose(): Promise<void> {
    const outcome = this.outcome;
    if (outcome) return this.socketClosed.then(() => (outcome.error ? Promise.reject(outcome.error) : undefined));
    return new Promise((resolve, reject) => this.closedWaiters.push({ resolve, reject }));
  }

  /**
   * Stops receiving, lets the handlers already running finish and acknowledge, then closes the socket.
   * Called from a handler, it resolves once the other handlers are done, and the socket closes when
   * the calling one returns (awaiting its own end would never resolve).
   */
  async close(): Promise<void> {
    if (this.outcome) return;
    this.dropQueued();
    this.stateValue = 'closed';
    clearTimeout(this.retryTimer);
    const caller = this.calling?.getStore();
    await Promise.allSettled([...this.running].filter(([event]) => event !== caller).map(([, task]) => task));
    if (this.running.size === 0) this.finish();
    await this.socketClosed;
  }

  async [asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- connection ------------------------------------------------------------------------------

  private url(): { url: string; headers: Record<string, string> } {
    const { request, context } = this;
    const url = new URL(context.realtimeUrl);
    url.searchParams.set('instance_id', request.instanceId);
    // Empty names are skipped (JavaScript callers, or names read from configuration).
    const events = (request.events ?? []).filter((name: string) => name !== '');
    if (events.length) url.searchParams.set('events', events.join(','));
    if (request.subscriber) url.searchParams.set('subscriber', request.subscriber);
    if (this.lastEventId) url.searchParams.set('last_event_id', this.lastEventId);
    // Unlimited concurrency (Infinity) takes the server's window.
    const window = request.maxInFlight ?? DEFAULT_WINDOW_PER_HANDLER * this.concurrency;
    if (Number.isFinite(window)) url.searchParams.set('max_in_flight', String(window));
    const [name, key] = request.instanceToken ? ['instance_token', request.instanceToken] : ['access_token', context.apiKey];
    if (!key) throw new PomboRealtimeError('no credentials: pass instanceToken, or create the client with an apiKey');
    if (request.credentials === 'headers' && !context.transport.headers) {
      throw new PomboRealtimeError("credentials: 'headers' needs a WebSocket that can send headers (the ws package in Node); this one can only put them in the query");
    }
    // A WebSocket that sends no headers cannot read a refused handshake's HTTP status either (a browser's,
    // Node 22's built-in one): the server closes with the status as a close code instead (4401, …).
    if (!context.transport.headers) url.searchParams.set('refusal', 'close');
    const inHeaders = (request.credentials ?? (context.transport.headers ? 'headers' : 'query')) === 'headers';
    if (!inHeaders) url.searchParams.set(name, key);
    const headers: Record<string, string> = inHeaders ? { [request.instanceToken ? 'x-instance-token' : 'apikey']: key } : {};
    return { url: url.toString(), headers };
  }

  /** Two missed pings: the server itself closes a connection that missed one. */
  private liveness(onStale: (error: PomboRealtimeError) => void): Liveness | undefined {
    const interval = this.request.pingIntervalMs ?? PING_INTERVAL_MS;
    if (!(interval > 0)) return undefined;
    const timeoutMs = 2 * interval + LIVENESS_GRACE_MS;
    return { timeoutMs, onStale: () => onStale(new PomboRealtimeError(`connection lost: no ping from the server in ${timeoutMs} ms`, 1006)) };
  }

  private connect(): void {
    /** Why the connection ended, when the close code alone does not say: a refusal, no ping. */
    let cause: PomboRealtimeError | undefined;
    let socket: SocketLike;
    try {
      const { url, headers } = this.url();
      const liveness = this.liveness((error) => (cause = error));
      socket = this.context.transport.open(url, headers, (status, body) => (cause = refusedError(status, body)), liveness);
    } catch (error) {
      return this.fail(error as Error);
    }
    this.socket = socket;
    this.ackedOnConnection = new RecentIds(ACKED_KEPT);
    let opened = false;
    let confirmed = false;
    let confirmTimer: ReturnType<typeof setTimeout> | undefined;
    const confirm = (): void => {
      if (confirmed || this.socket !== socket) return;
      confirmed = true;
      clearTimeout(confirmTimer);
      // Not at once: a server that accepts each connection and closes it (it cannot start the
      // subscription) must meet a growing delay and maxRetries, not a reconnect at the base delay for ever.
      clearTimeout(this.stableTimer);
      this.stableTimer = setTimeout(() => (this.attempts = 0), STABLE_MS);
      this.stateValue = 'open';
      this.everOpened = true;
      this.settleOpen?.resolve();
      for (const handler of this.openHandlers) this.lifecycle(() => handler());
    };
    socket.onopen = () => {
      opened = true;
      // A handshake with an Origin header (browsers) is refused by an upgrade and a 44xx close at once,
      // and the protocol has no welcome frame: such a connection counts as open at its first frame, or
      // when no close came within CONFIRM_MS. Without headers of its own (`ws`), a refusal is an HTTP status.
      if (this.context.transport.headers) confirm();
      else confirmTimer = setTimeout(confirm, CONFIRM_MS);
    };
    socket.onmessage = (message) => {
      confirm();
      this.receive(message.data);
    };
    const lost = (code: number, reason: string): void => {
      clearTimeout(confirmTimer);
      if (this.socket !== socket) return;
      this.socket = undefined;
      clearTimeout(this.stableTimer);
      // The server owes the events not started yet again, on the next connection.
      this.dropQueued();
      this.closed(cause ?? new PomboRealtimeError(`connection closed (${code}${reason ? `: ${reason}` : ''})`, code));
    };
    socket.onerror = () => {
      // Usually the close that follows (in the same task) says what happened; but undici 6, Node 22's
      // built-in WebSocket, fires only `error` when a connection cannot be established.
      if (!opened) later(() => lost(1006, 'the connection could not be established'));
    };
    socket.onclose = ({ code, reason }) => lost(code, reason);
  }

  /** Decides what a lost connection means: the end (refused, given up, not reconnecting) or another attempt. */
  private closed(error: PomboRealtimeError): void {
    if (this.stateValue === 'closed') return this.finish();
    const clean = error.closeCode === 1000 || error.closeCode === 1001;
    if (error.fatal) return this.fail(error);
    if (this.request.reconnect === false) return clean && this.stateValue === 'open' ? this.finish() : this.fail(error);
    this.attempts++;
    const maxRetries = this.request.maxRetries ?? Number.POSITIVE_INFINITY;
    if (this.attempts > maxRetries) return this.fail(new PomboRealtimeError(`gave up after ${maxRetries} reconnect attempts: ${error.message}`, error.closeCode, error.status));
    this.stateValue = 'reconnecting';
    this.report(error);
    const delay = fullJitter(this.attempts, this.request.retryDelayMs ?? 500, this.request.maxRetryDelayMs ?? 30_000);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private fail(error: Error): void {
    // Before the first open, `subscribe()` rejects with it: no warning besides.
    if (this.everOpened || this.errorHandlers.size > 0) this.report(error);
    this.finish(error);
  }

  private finish(error?: Error): void {
    if (this.outcome) return;
    this.flushAcks();
    this.outcome = error ? { error } : {};
    this.stateValue = 'closed';
    this.stopOnAbort?.();
    clearTimeout(this.retryTimer);
    clearTimeout(this.stableTimer);
    const socket = this.socket;
    this.socket = undefined;
    if (socket && socket.readyState <= OPEN) {
      socket.close(1000, 'closed by the client');
      this.socketClosed = closedOf(socket);
    }
    this.settleOpen?.reject(error ?? new PomboRealtimeError('the subscription was closed before it connected'));
    const waiters = this.closedWaiters.splice(0);
    void this.socketClosed.then(() => {
      for (const waiter of waiters) (error ? waiter.reject(error) : waiter.resolve());
    });
    for (const handler of this.closeHandlers) this.lifecycle(() => handler(error));
  }

  /** Runs an `open` or `close` handler: what it throws or rejects with goes to the error handlers. */
  private lifecycle(run: () => unknown): void {
    try {
      const result = run();
      if (isThenable(result)) result.then(undefined, (error: unknown) => this.failed(error));
    } catch (error) {
      this.failed(error);
    }
  }

  private report(error: Error, event?: PomboEvent): void {
    if (this.errorHandlers.size === 0) {
      if (!this.warnedUnhandled) warnUnhandledError(this.request.instanceId, error, event);
      this.warnedUnhandled = true;
      return;
    }
    for (const handler of this.errorHandlers) {
      try {
        handler(error, event);
      } catch {
        // an error handler's own failure has nowhere left to go
      }
    }
  }

  // ---- events ----------------------------------------------------------------------------------

  private receive(data: unknown): void {
    if (this.stateValue === 'closed' || typeof data !== 'string') return;
    let event: PomboEvent;
    try {
      event = JSON.parse(data) as PomboEvent;
    } catch {
      return this.report(new Error('the server sent a frame that is not JSON'));
    }
    if (acknowledgeable(event) && this.ackedOnConnection.has(event.id)) return this.ackAgain(event.id);
    if (!this.dispatching) return this.hold(event);
    if (acknowledgeable(event)) {
      if (this.inHand.has(event.id)) return;
      this.inHand.add(event.id);
    }
    // Nothing waiting: handled at once, without going through the queue.
    if (this.queue.length === 0 && this.running.size < this.concurrency) this.start(event);
    else {
      this.queue.push(event);
      this.pump();
    }
  }

  /** Keeps an event until the first handler (at most MAX_HELD: the server holds the rest, unacknowledged). */
  private hold(event: PomboEvent): void {
    if (this.queue.length >= MAX_HELD || (acknowledgeable(event) && this.inHand.has(event.id))) return;
    if (acknowledgeable(event)) this.inHand.add(event.id);
    this.queue.push(event);
  }

  /** Forgets the events not started yet: unacknowledged, they come again on the next connection. */
  private dropQueued(): void {
    for (const event of this.queue) this.inHand.delete(event.id);
    this.queue.length = 0;
  }

  private startDispatching(): void {
    if (this.dispatching || this.stateValue === 'closed') return;
    this.dispatching = true;
    this.pump();
  }

  private get concurrency(): number {
    return Math.max(1, this.request.concurrency ?? 1);
  }

  /** Starts queued events while fewer than `concurrency` are being handled. */
  private pump(): void {
    if (!this.dispatching) return;
    while (this.running.size < this.concurrency && this.queue.length) this.start(this.queue.shift() as PomboEvent);
  }

  /** Handles an event; one whose handlers are still running (async ones) counts against `concurrency` until they end. */
  private start(event: PomboEvent): void {
    const pending = this.calling ? this.calling.run(event, () => this.handle(event)) : this.handle(event);
    if (!pending) return;
    const task = pending.finally(() => {
      this.running.delete(event);
      // The last handler of a subscription closing (close() called from a handler) ends it.
      if (this.stateValue === 'closed' && this.running.size === 0) this.finish();
      else this.pump();
    });
    this.running.set(event, task);
  }

  private handlersFor(type: string): readonly EventHandler[] {
    let handlers = this.handlersByType.get(type);
    if (!handlers) {
      handlers = this.registrations.filter((r) => r.type === type || r.type === 'All').map((r) => r.handler);
      this.handlersByType.set(type, handlers);
    }
    return handlers;
  }

  /**
   * Runs every matching handler in registration order; acks only if none threw. Handlers that return
   * at once are run without a promise per event (most are); from the first one that returns a promise
   * on, the rest wait for it, and the returned promise settles when all are done.
   */
  private handle(event: PomboEvent): Promise<void> | undefined {
    if (this.recent?.has(event.id)) {
      this.ack(event);
      return undefined;
    }
    const handlers = this.handlersFor(event.type);
    // A subscriber that does not handle `Gap` must still learn that events were lost.
    if (event.type === 'Gap' && handlers.length === 0) this.report(new PomboGapError(event.data as GapData), event);
    let failed = false;
    for (let index = 0; index < handlers.length; index++) {
      let result: unknown;
      try {
        result = (handlers[index] as EventHandler)(event);
      } catch (error) {
        failed = true;
        this.failed(error, event);
        continue;
      }
      if (isThenable(result)) return this.handleRest(event, handlers, index, result, failed);
    }
    this.handled(event, failed);
    return undefined;
  }

  /** `handle` once handler `index` returned a promise. */
  private async handleRest(event: PomboEvent, handlers: readonly EventHandler[], index: number, pending: PromiseLike<unknown>, failed: boolean): Promise<void> {
    try {
      await pending;
    } catch (error) {
      failed = true;
      this.failed(error, event);
    }
    for (const handler of handlers.slice(index + 1)) {
      try {
        await handler(event);
      } catch (error) {
        failed = true;
        this.failed(error, event);
      }
    }
    this.handled(event, failed);
  }

  private failed(error: unknown, event?: PomboEvent): void {
    this.report(error instanceof Error ? error : new Error(String(error)), event);
  }

  private handled(event: PomboEvent, failed: boolean): void {
    // Not acknowledged: the server's next copy is handled again.
    if (failed) return void this.inHand.delete(event.id);
    this.recent?.add(event.id);
    this.ack(event);
  }

  /**
   * Acks are sent once the events at hand are handled (the same turn of the event loop): a client with
   * many subscriptions runs its handlers first instead of waiting for a write per event in between.
   */
  private ack(event: PomboEvent): void {
    if (!acknowledgeable(event)) return;
    this.pendingAcks.push(event.id);
    if (event.type !== 'Gap') this.pendingResume = event.id;
    if (this.pendingAcks.length === 1) afterThisTurn(this.sendAcks);
  }

  /** Acknowledges a stale copy again: its ack frame only, the resume point stays at the newest event handled. */
  private ackAgain(id: string): void {
    this.pendingAcks.push(id);
    if (this.pendingAcks.length === 1) afterThisTurn(this.sendAcks);
  }

  /** Sends the acks of the events handled since the last flush (a closed socket drops them: the events come again). */
  private flushAcks(): void {
    const ids = this.pendingAcks;
    const resume = this.pendingResume;
    if (!ids.length) return;
    this.pendingAcks = [];
    this.pendingResume = undefined;
    for (const id of ids) this.inHand.delete(id);
    if (this.socket?.readyState !== OPEN) return;
    for (const id of ids) {
      this.socket.send(`{"type":"ack","event_id":${JSON.stringify(id)}}`);
      this.ackedOnConnection.add(id);
    }
    if (resume !== undefined) this.acked = resume;
  }
}

/** How long `close()` and `waitForClose()` wait for the server to answer the close. */
const CLOSE_WAIT_MS = 2_000;

/** Resolves when the socket closes (its own `onclose` still runs), or after CLOSE_WAIT_MS. */
function closedOf(socket: SocketLike): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    const previous = socket.onclose;
    socket.onclose = (event) => {
      clearTimeout(timer);
      resolve();
      previous?.call(socket, event);
    };
  });
}

/** What runs once the I/O callbacks of the current turn of the event loop are done (one timer for all). */
const deferred = new Set<() => void>();
const later: (run: () => void) => void = typeof setImmediate === 'function' ? (run) => void setImmediate(run) : (run) => void setTimeout(run, 0);

function afterThisTurn(task: () => void): void {
  if (deferred.size === 0) later(runDeferred);
  deferred.add(task);
}

function runDeferred(): void {
  const tasks = [...deferred];
  deferred.clear();
  for (const task of tasks) task();
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';

/** A handshake refused with an HTTP status (non-browser clients): the body is Pombo's JSON error. */
function refusedError(status: number, body: string): PomboRealtimeError {
  let message = body;
  try {
    const parsed = JSON.parse(body) as { response?: { message?: string[] } };
    message = parsed.response?.message?.join('; ') ?? body;
  } catch {
    // not JSON: keep the text
  }
  return new PomboRealtimeError(`the server refused the subscription (HTTP ${status}): ${message}`, undefined, status);
}
