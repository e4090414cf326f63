import type { Logger } from 'pino';
import type { ConnectionState } from './broker-channel.ts';

export interface KeeperOptions<T> {
  /** For logs: what is connected to, without credentials ("RabbitMQ at 127.0.0.1:5672"). */
  readonly target: string;
  /** Opens a ready-to-use client (connection, channels, topology); throws when it cannot. */
  connect(): Promise<T>;
  /** Closes a client, best effort. */
  disconnect(client: T): Promise<void>;
  readonly log: Logger;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error)) || 'unknown error';

/**
 * Keeps one broker connection: connects lazily when a publish needs it, and in the background
 * after a failure or a loss, forever, with capped and jittered backoff (so the state shown in
 * `find` recovers even when no event is waiting). Concurrent callers share one attempt.
 */
export class ConnectionKeeper<T> {
  private client: T | undefined;
  private pending: Promise<T> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private state: ConnectionState = 'disconnected';
  private lastError: string | null = null;

  constructor(private readonly options: KeeperOptions<T>) {}

  connection(): { state: ConnectionState; lastError: string | null } {
    return { state: this.state, lastError: this.lastError };
  }

  /** Starts connecting in the background, so that a bad URI shows up before the first event. */
  start(): void {
    this.get().catch(() => undefined);
  }

  /** The connected client, connecting now if there is none. */
  get(): Promise<T> {
    if (this.client) return Promise.resolve(this.client);
    if (this.closed) return Promise.reject(new Error(`the connection to ${this.options.target} is closed`));
    this.pending ??= this.attempt();
    return this.pending;
  }

  private async attempt(): Promise<T> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.state = 'connecting';
    try {
      const client = await this.options.connect();
      if (this.closed) {
        await this.options.disconnect(client).catch(() => undefined);
        throw new Error(`the connection to ${this.options.target} is closed`);
      }
      const restored = this.failures > 0 || this.lastError !== null;
      this.options.log.info({ target: this.options.target }, restored ? 'broker connection restored' : 'broker connected');
      this.client = client;
      this.failures = 0;
      this.report('connected');
      return client;
    } catch (error) {
      if (this.failures === 0) this.options.log.warn({ target: this.options.target, error: messageOf(error) }, 'cannot connect to the broker; retrying');
      this.failures++;
      this.report('disconnected', messageOf(error));
      this.schedule();
      throw error;
    } finally {
      this.pending = undefined;
    }
  }

  /** The client died (closed by the broker, socket reset): forget it and reconnect in the background. */
  lost(client: T, error: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.options.log.warn({ target: this.options.target, error: messageOf(error) }, 'broker connection lost; reconnecting');
    this.report('disconnected', messageOf(error));
    void this.options.disconnect(client).catch(() => undefined);
    this.failures = Math.max(this.failures, 1);
    this.schedule();
  }

  /** Lets a client that reconnects by itself (NATS) report where it stands. */
  report(state: ConnectionState, error?: unknown): void {
    this.state = state;
    if (state === 'connected') this.lastError = null;
    else if (error !== undefined) this.lastError = `${this.options.target}: ${messageOf(error)}`;
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    const initial = this.options.initialDelayMs ?? 200;
    const cap = Math.min(this.options.maxDelayMs ?? 30_000, initial * 2 ** Math.min(this.failures, 20));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.client) this.start();
    }, Math.round(cap / 2 + (Math.random() * cap) / 2));
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client ?? (await this.pending?.catch(() => undefined));
    this.client = undefined;
    this.state = 'disconnected';
    if (!client) return;
    await this.options.disconnect(client).catch(() => undefined);
    this.options.log.info({ target: this.options.target }, 'broker disconnected');
  }
}
