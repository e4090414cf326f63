import type { EventKey } from '../core/event-names.ts';
import type { StoredEvent } from './types.ts';

/**
 * What a listener of appends needs of the events other nodes commit (cluster mode): a node reads from
 * the database only the events its own listeners need, not every node's every event. A listener that
 * says nothing needs every event. A node hands its own commits over whole (they are in memory).
 */
export interface AppendInterest {
  /** Every event of every instance (a destination of every instance, a Socket.IO client on `/`). */
  readonly all?: boolean;
  /** Every event of these instances (by id). */
  readonly instances?: Iterable<string>;
  /** Events of these kinds, whatever their instance. */
  readonly events?: Iterable<EventKey>;
}

/**
 * Called with each run of committed events, in position order, and the newest position committed:
 * every event up to `head` that the listener's interest asks for (as it stands when the run is
 * handed over) is in this run or an earlier one.
 */
export type AppendListener = (events: readonly StoredEvent[], head: number) => void;

/** The union of the listeners' interests at one moment. */
export class Wanted {
  readonly all: boolean;
  readonly instances = new Set<string>();
  readonly events = new Set<EventKey>();

  constructor(interests: Iterable<AppendInterest | undefined>) {
    let all = false;
    for (const interest of interests) {
      if (!interest || interest.all) {
        all = true;
        break;
      }
      for (const id of interest.instances ?? []) this.instances.add(id);
      for (const event of interest.events ?? []) this.events.add(event);
    }
    this.all = all;
  }

  get nothing(): boolean {
    return !this.all && this.instances.size === 0 && this.events.size === 0;
  }

  /** Whether a read for this interest holds everything `later` asks for. */
  includes(later: Wanted): boolean {
    if (this.all) return true;
    if (later.all) return false;
    for (const id of later.instances) if (!this.instances.has(id)) return false;
    for (const event of later.events) if (!this.events.has(event)) return false;
    return true;
  }
}
