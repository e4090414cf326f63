import pg from 'pg';

/** The NOTIFY channel of appends; the payload is `<schema> <head>`, so one database can hold several logs. */
export const APPEND_CHANNEL = 'pombo_appends';
/** How often the head is polled besides notifications (a lost notification, a LISTEN connection down). */
export const APPEND_POLL_MS = 1000;
const RECONNECT_MS = 1000;
/**
 * How often the listening connection is asked a query, and how long it has to answer: a connection
 * that only listens never notices a dead server or network (TCP keepalive gives up after minutes).
 */
const LISTEN_CHECK_MS = 10_000;

/**
 * Tells this node when any node commits appends to the log: LISTEN on a connection of its own (opened
 * again after it breaks), and a poll of the head as a fallback. `heard` gets heads, old ones included.
 * The same connection hears the cluster's other notices (subscriber takeovers), which have no poll.
 */
export class AppendNotifications {
  private client: pg.Client | undefined;
  private closed = false;
  private readonly poller: NodeJS.Timeout;
  private readonly checker: NodeJS.Timeout;
  private reconnect: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: pg.ClientConfig,
    private readonly schema: string,
    private readonly pollHead: () => Promise<number>,
    private readonly heard: (head: number) => void,
    /** Other channels listened to on the same connection, with what hears their payloads (no poll covers them). */
    private readonly others: Readonly<Record<string, (payload: string | undefined) => void>> = {},
  ) {
    this.poller = setInterval(() => void this.poll(), APPEND_POLL_MS);
    this.poller.unref();
    this.checker = setInterval(() => void this.check(), LISTEN_CHECK_MS);
    this.checker.unref();
  }

  /** Replaces the listening connection when it does not answer a query in time. */
  private async check(): Promise<void> {
    const client = this.client;
    if (!client) return;
    // pg's per-query read timeout (its types leave the option out, hence the variable).
    const ping = { text: 'SELECT 1', query_timeout: LISTEN_CHECK_MS };
    try {
      await client.query(ping);
    } catch {
      this.retry(client);
    }
  }

  /** Starts listening; resolves once LISTEN is in place (or failed: the poll covers until it is). */
  async start(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ ...this.settings, application_name: 'pombo-listen' });
    this.client = client;
    client.on('notification', ({ channel, payload }) => (channel === APPEND_CHANNEL ? this.onNotice(payload) : this.others[channel]?.(payload)));
    client.on('error', () => this.retry(client));
    client.on('end', () => this.retry(client));
    try {
      await client.connect();
      await client.query([APPEND_CHANNEL, ...Object.keys(this.others)].map((channel) => `LISTEN ${channel}`).join('; '));
    } catch {
      this.retry(client);
    }
  }

  private onNotice(payload: string | undefined): void {
    const [schema, head] = (payload ?? '').split(' ');
    if (schema === this.schema && head !== undefined) this.heard(Number(head));
  }

  private retry(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    if (this.closed) return;
    // Appends committed while no one listened are found by the poll (and by the first one after this).
    this.reconnect = setTimeout(() => void this.start(), RECONNECT_MS);
    this.reconnect.unref();
  }

  private async poll(): Promise<void> {
    try {
      this.heard(await this.pollHead());
    } catch {
      // The database is unreachable: the next poll tries again.
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    clearInterval(this.checker);
    clearTimeout(this.reconnect);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
