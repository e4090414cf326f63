/** One copy of an event as a consumer received it: its number, who sent it (a node, a connection), when. */
export interface Arrival {
  readonly n: number;
  readonly from: string;
  readonly at: number;
}

/**
 * How many duplicates a consumer may see, by the rule of docs/cluster.md: when a destination changes
 * sender (its lease moved, a subscriber reconnected elsewhere), the new sender starts from the position
 * the old one last recorded, so it resends at most what the old one had in flight (its in-flight window)
 * and what it delivered after its last recorded position. Both are among the old sender's own last
 * deliveries, those of its last `recentMs` when it records often enough: the allowance of each change is
 * what the old sender delivered in its last `recentMs`, counted from the arrivals (in arrival order), so
 * a burst is allowed for by what was really sent, and a sender that started from much further back is
 * caught.
 */
export function duplicatesAllowed(arrivals: readonly Arrival[], recentMs: number): { changes: number; allowed: number } {
  let changes = 0;
  let allowed = 0;
  for (let index = 1; index < arrivals.length; index++) {
    const previous = arrivals[index - 1] as Arrival;
    if ((arrivals[index] as Arrival).from === previous.from) continue;
    changes++;
    for (let back = index - 1; back >= 0; back--) {
      const arrival = arrivals[back] as Arrival;
      if (arrival.from !== previous.from) continue;
      if (arrival.at < previous.at - recentMs) break;
      allowed++;
    }
  }
  return { changes, allowed };
}
