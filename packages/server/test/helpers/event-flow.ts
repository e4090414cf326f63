/**
 * A steady stream of numbered events for loss tests: posts batches to the ingest API of an INGEST
 * instance until stopped, and remembers which numbers Pombo acknowledged (those must all arrive).
 * `Tally` counts what a consumer received: missing numbers, duplicates, and whether first arrivals
 * kept the log's order.
 */
export interface Flow {
  /** Numbers Pombo answered 2xx for. */
  readonly acknowledged: ReadonlySet<number>;
  /** Requests that failed (Pombo killed or restarting): their events may or may not exist. */
  readonly failures: number;
  /** Switches to another Pombo (after a restart) and goes on numbering. */
  retarget(url: string): void;
  stop(): Promise<void>;
}

export interface FlowOptions {
  url: string;
  apiKey: string;
  instance: string;
  batch?: number;
  everyMs?: number;
  event?: string;
}

/** The event body of number `n`: a MESSAGES_UPSERT-shaped payload carrying `n`. */
export const numberedEvent = (n: number, event = 'MESSAGES_UPSERT') => ({
  event,
  id: `flow-${n}`,
  data: { key: { remoteJid: '5500111111111@s.whatsapp.net', fromMe: false, id: `FLOW${n}` }, message: { conversation: `n=${n}` }, n },
});

export function startFlow(options: FlowOptions): Flow {
  const acknowledged = new Set<number>();
  let url = options.url;
  let next = 0;
  let failures = 0;
  let stopped = false;
  const batch = options.batch ?? 10;
  const loop = (async () => {
    while (!stopped) {
      const numbers = Array.from({ length: batch }, () => next++);
      try {
        const response = await fetch(`${url}/events/${options.instance}`, {
          method: 'POST',
          headers: { apikey: options.apiKey, 'content-type': 'application/json' },
          body: JSON.stringify({ events: numbers.map((n) => numberedEvent(n, options.event)) }),
        });
        await response.text();
        if (response.ok) for (const n of numbers) acknowledged.add(n);
        else failures++;
      } catch {
        failures++;
      }
      await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 20));
    }
  })();
  return {
    acknowledged,
    get failures() {
      return failures;
    },
    retarget(to: string) {
      url = to;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

export class Tally {
  private readonly seen = new Map<number, number>();
  private lastFirst = -1;
  /** False once a number arrived for the first time after a higher one. */
  inOrder = true;

  add(n: number): void {
    const count = this.seen.get(n) ?? 0;
    this.seen.set(n, count + 1);
    if (count > 0) return;
    if (n < this.lastFirst) this.inOrder = false;
    this.lastFirst = n;
  }

  get distinct(): number {
    return this.seen.size;
  }

  get duplicates(): number {
    let total = 0;
    for (const count of this.seen.values()) total += count - 1;
    return total;
  }

  missing(expected: Iterable<number>): number[] {
    return [...expected].filter((n) => !this.seen.has(n));
  }

  has(n: number): boolean {
    return this.seen.has(n);
  }
}
