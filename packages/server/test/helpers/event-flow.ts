/**
 * A steady stream of numbered events for loss tests: posts batches to the ingest API of an INGEST
 * instance until stopped, and remembers which numbers Pombo acknowledged (those must all arrive).
 * `Tally` counts what a consumer received: missing numbers, duplicates, and whether the last copies
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

/** `count` event bodies numbered from `from`, about 10 KB of data each (for tests of slow readers and memory). */
export const bulkyEvents = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ event: 'MESSAGES_UPSERT', data: { n: from + i, text: 'x'.repeat(10_000) } }));

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
  /** Per number, the arrival index of its latest copy. */
  private readonly lastAt = new Map<number, number>();
  private arrivals = 0;
  /** Where the arrival order went back: the highest number seen so far and the number that came next. */
  private readonly rewinds: [number, number][] = [];
  private highest = -1;

  add(n: number): void {
    this.seen.set(n, (this.seen.get(n) ?? 0) + 1);
    this.lastAt.set(n, this.arrivals++);
    if (n < this.highest) this.rewinds.push([this.highest, n]);
    this.highest = Math.max(this.highest, n);
  }

  /** For a failure message: each place the arrivals went back (`after 812 came 640 again`), the first ten. */
  describeRewinds(): string {
    const shown = this.rewinds.slice(0, 10).map(([highest, n]) => `after ${highest} came ${n}`);
    return `${this.rewinds.length} rewinds${shown.length ? `: ${shown.join(', ')}` : ''}`;
  }

  /**
   * Whether the last copy of every number arrived in the numbers' order: what an ordered destination
   * guarantees (an event published again after a failure is followed by every later event again),
   * while first arrivals may be out of order (a later event got through before an earlier one failed).
   */
  get lastCopiesInOrder(): boolean {
    const numbers = [...this.lastAt.keys()].sort((a, b) => a - b);
    for (let index = 1; index < numbers.length; index++) {
      if ((this.lastAt.get(numbers[index] as number) as number) < (this.lastAt.get(numbers[index - 1] as number) as number)) return false;
    }
    return true;
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
