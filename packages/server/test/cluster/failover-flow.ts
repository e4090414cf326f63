/**
 * A producer of numbered events for one instance of a cluster, as a careful producer writes it: every
 * event carries a producer id (`flow-<n>`), so a batch whose request failed or timed out (its node was
 * killed, stopped or cut from the database) is posted again, unchanged, to the next node, and Pombo
 * stores it once whichever node got it first. The next batch goes only once one is acknowledged, so
 * the instance's log holds 0, 1, 2… in order, and each chat's numbers in order.
 */
export interface FailoverFlow {
  /** Numbers acknowledged so far (0 up to this, exclusive). */
  readonly acknowledged: number;
  /** Requests that failed or timed out and were posted again to another node. */
  readonly retries: number;
  /** Resolves once `total` numbers are acknowledged (or the flow is stopped). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export interface FailoverFlowOptions {
  /** The nodes' URLs; the flow starts on `urls[first]` and moves to the next one after a failure. */
  urls: readonly string[];
  first: number;
  apiKey: string;
  instance: string;
  total: number;
  batch: number;
  /** The pace: batches are due at this rate (a flow that fell behind posts its late batches at once). */
  eventsPerSecond: number;
  /** Events are spread over this many chats (`key.remoteJid`), number n in chat n % chats. */
  chats: number;
  timeoutMs: number;
}

export const chatOf = (n: number, chats: number): string => `55001${String(n % chats).padStart(6, '0')}@s.whatsapp.net`;

const chatEvent = (n: number, chats: number) => ({
  event: 'MESSAGES_UPSERT',
  id: `flow-${n}`,
  data: { key: { remoteJid: chatOf(n, chats), fromMe: false, id: `FLOW${n}` }, message: { conversation: `n=${n}` }, n },
});

export function startFailoverFlow(options: FailoverFlowOptions): FailoverFlow {
  let acknowledged = 0;
  let retries = 0;
  let stopped = false;
  let node = options.first;
  const started = Date.now();
  const post = async (numbers: number[]): Promise<boolean> => {
    try {
      const response = await fetch(`${options.urls[node]}/events/${options.instance}`, {
        method: 'POST',
        headers: { apikey: options.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ events: numbers.map((n) => chatEvent(n, options.chats)) }),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      await response.text();
      return response.ok;
    } catch {
      return false;
    }
  };
  const done = (async () => {
    while (!stopped && acknowledged < options.total) {
      const due = started + (acknowledged / options.eventsPerSecond) * 1000;
      if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      const numbers = Array.from({ length: Math.min(options.batch, options.total - acknowledged) }, (_, i) => acknowledged + i);
      while (!stopped && !(await post(numbers))) {
        retries++;
        node = (node + 1) % options.urls.length;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (!stopped) acknowledged += numbers.length;
    }
  })();
  return {
    get acknowledged() {
      return acknowledged;
    },
    get retries() {
      return retries;
    },
    done,
    async stop() {
      stopped = true;
      await done;
    },
  };
}
