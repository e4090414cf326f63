import WebSocket from 'ws';
import { Tally } from '../helpers/event-flow.ts';
import { realtimeUrl } from '../realtime/ws-client.ts';

/** One connection of a subscriber: the node it reached and the numbers it received, in arrival order. */
export interface SubscriberConnection {
  readonly url: string;
  readonly numbers: number[];
  /** When each number arrived (ms since epoch), index by index with `numbers`. */
  readonly arrivals: number[];
  /** Why it ended (undefined while open). */
  ended?: 'closed' | 'unanswered pings';
}

/**
 * A durable `/events/ws` subscriber of a cluster, as a robust client writes it: it acknowledges every
 * event as it arrives, pings its node and drops a connection whose node stopped answering (a paused
 * process keeps its sockets open), and moves to the next node after any loss, passing the last event it
 * acknowledged as `last_event_id`. It records every number it received, per connection.
 */
export interface FailoverSubscriber {
  readonly tally: Tally;
  readonly connections: readonly SubscriberConnection[];
  /** Resolves once the first connection is open (the subscriber exists from then on). */
  readonly opened: Promise<void>;
  close(): Promise<void>;
}

export interface FailoverSubscriberOptions {
  urls: readonly string[];
  first: number;
  apiKey: string;
  instance: string;
  subscriber: string;
  /** A connection that answered nothing (frame or pong) over one interval is dropped at the next ping. */
  pingEveryMs: number;
}

export function startFailoverSubscriber(options: FailoverSubscriberOptions): FailoverSubscriber {
  const tally = new Tally();
  const connections: SubscriberConnection[] = [];
  let node = options.first;
  let lastAcked: string | undefined;
  let closing = false;
  let current: WebSocket | undefined;
  let markOpened: () => void = () => {};
  const opened = new Promise<void>((resolve) => (markOpened = resolve));

  const open = (): void => {
    const url = options.urls[node] as string;
    const query: Record<string, string> = { instance_id: options.instance, subscriber: options.subscriber };
    if (lastAcked) query.last_event_id = lastAcked;
    const ws = new WebSocket(realtimeUrl(url, query), { headers: { apikey: options.apiKey }, handshakeTimeout: options.pingEveryMs * 2 });
    current = ws;
    const connection: SubscriberConnection = { url, numbers: [], arrivals: [] };
    let answered = true;
    let pinger: NodeJS.Timeout | undefined;
    ws.on('open', () => {
      connections.push(connection);
      markOpened();
      pinger = setInterval(() => {
        if (!answered) {
          connection.ended = 'unanswered pings';
          ws.terminate();
          return;
        }
        answered = false;
        ws.ping();
      }, options.pingEveryMs);
    });
    ws.on('pong', () => (answered = true));
    ws.on('message', (data) => {
      answered = true;
      const frame = JSON.parse(data.toString()) as { id: string; data?: { data?: { n?: unknown } } };
      const n = frame.data?.data?.n;
      if (typeof n === 'number') {
        tally.add(n);
        connection.numbers.push(n);
        connection.arrivals.push(Date.now());
      }
      ws.send(JSON.stringify({ type: 'ack', event_id: frame.id }));
      lastAcked = frame.id;
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearInterval(pinger);
      connection.ended ??= 'closed';
      if (closing) return;
      node = (node + 1) % options.urls.length;
      setTimeout(open, 100);
    });
  };
  open();

  return {
    tally,
    connections,
    opened,
    async close() {
      closing = true;
      const ws = current;
      if (!ws || ws.readyState === WebSocket.CLOSED) return;
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        if (ws.readyState === WebSocket.OPEN) ws.close(1000);
        else ws.terminate();
      });
    },
  };
}
