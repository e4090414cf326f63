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
 * caught. The last `recentMs` are of the old sender's running time: a silence of `PAUSE_MS` or more
 * while events flow is its process stopped (SIGSTOP), and does not count. A stopped node records
 * nothing, and docs/cluster.md ("A paused node") says one write it had begun can still arrive after it
 * runs again: then its last deliveries are that late write and those from just before the pause.
 */
export function duplicatesAllowed(arrivals: readonly Arrival[], recentMs: number): { changes: number; allowed: number } {
  let changes = 0;
  let allowed = 0;
  for (let index = 1; index < arrivals.length; index++) {
    const previous = arrivals[index - 1] as Arrival;
    if ((arrivals[index] as Arrival).from === previous.from) continue;
    changes++;
    let running = 0;
    let later = previous.at;
    for (let back = index - 1; back >= 0; back--) {
      const arrival = arrivals[back] as Arrival;
      if (arrival.from !== previous.from) continue;
      const silence = later - arrival.at;
      if (silence < PAUSE_MS) running += silence;
      if (running > recentMs) break;
      later = arrival.at;
      allowed++;
    }
  }
  return { changes, allowed };
}

/** A sender silent this long while the flows run (about 250 events a second per instance) was stopped. */
const PAUSE_MS = 500;
