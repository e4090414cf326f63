import type { StoredEvent } from '../../store/types.ts';

/** Times are kept as ms since this module loaded: small integers that a plain array holds unboxed. */
const EPOCH = Date.now();
export const clock = (): number => Date.now() - EPOCH;

/** Slot layout: four array cells per unacknowledged event. */
const EVENT = 0;
const TARGET = 1;
const DEADLINE = 2;
const SENDS = 3;
const STRIDE = 4;

/**
 * The events sent to one subscriber and not acknowledged yet, in one flat array (no object per event
 * per subscriber: with thousands of subscribers, that was most of the allocation of a fan-out).
 * `T` is where an event went (a connection); null while it waits for one.
 */
export class AckWindow<T> {
  private slots: unknown[] = [];
  /** Index of the first slot that may still be taken; the ones before are settled. */
  private start = 0;
  /** Unacknowledged events. */
  size = 0;
  /** Unacknowledged events that failed at least once: sent more than once, or waiting for a connection to send them again. */
  retrying = 0;
  /**
   * Whether the events were added in log order since the window was last empty (not so after a
   * rewind): then the first taken slot holds the oldest, and `oldestPos` reads no other.
   */
  private ordered = true;
  private lastAddedPos = -1;
  /** No deadline comes before this (an ack-wait sweep with nothing due reads no slot). */
  private earliestDeadline = Number.POSITIVE_INFINITY;
  /** Set while `forEach` runs: slots do not move under it. */
  private visiting = false;

  /** Adds an event sent to `target`; `sends` counts this send and those of earlier windows. */
  add(event: StoredEvent, target: T | null, deadline: number, sends = 1): void {
    if (this.size === 0) this.ordered = true;
    else if (event.pos < this.lastAddedPos) this.ordered = false;
    this.lastAddedPos = event.pos;
    this.slots.push(event, target, deadline, sends);
    this.size++;
    if (sends > 1 || target === null) this.retrying++;
    if (target !== null && deadline < this.earliestDeadline) this.earliestDeadline = deadline;
  }

  /** The slot of an event, by id (acks mostly come in send order: found at once), else -1. */
  find(eventId: string): number {
    const slots = this.slots;
    for (let slot = this.start; slot < slots.length; slot += STRIDE) {
      const event = slots[slot + EVENT] as StoredEvent | null;
      if (event !== null && event.id === eventId) return slot;
    }
    return -1;
  }

  has(pos: number): boolean {
    const slots = this.slots;
    for (let slot = this.start; slot < slots.length; slot += STRIDE) {
      if ((slots[slot + EVENT] as StoredEvent | null)?.pos === pos) return true;
    }
    return false;
  }

  event(slot: number): StoredEvent {
    return this.slots[slot + EVENT] as StoredEvent;
  }

  target(slot: number): T | null {
    return this.slots[slot + TARGET] as T | null;
  }

  deadline(slot: number): number {
    return this.slots[slot + DEADLINE] as number;
  }

  /** How many times the event was sent (the first send included). */
  sends(slot: number): number {
    return this.slots[slot + SENDS] as number;
  }

  /** Records a send of the event again, to `target` (null: waiting for a connection). */
  resend(slot: number, target: T | null, deadline: number): void {
    // Once sent again or waiting to be, it stays retrying until it is taken out.
    if (!this.isRetrying(slot)) this.retrying++;
    this.slots[slot + TARGET] = target;
    this.slots[slot + DEADLINE] = deadline;
    if (target !== null) {
      this.slots[slot + SENDS] = (this.slots[slot + SENDS] as number) + 1;
      if (deadline < this.earliestDeadline) this.earliestDeadline = deadline;
    }
  }

  /** Takes an event out (acknowledged or dead-lettered). */
  remove(slot: number): void {
    if (this.isRetrying(slot)) this.retrying--;
    const slots = this.slots;
    slots[slot + EVENT] = null;
    slots[slot + TARGET] = null;
    this.size--;
    if (!this.visiting) this.compact();
  }

  private isRetrying(slot: number): boolean {
    return this.sends(slot) > 1 || this.target(slot) === null;
  }

  private compact(): void {
    const slots = this.slots;
    if (this.size === 0) {
      slots.length = 0;
      this.start = 0;
      return;
    }
    while (this.start < slots.length && slots[this.start + EVENT] === null) this.start += STRIDE;
    // Settled slots at the front are dropped once they are half the array (amortized O(1)).
    if (this.start >= 64 && this.start * 2 >= slots.length) {
      slots.copyWithin(0, this.start);
      slots.length -= this.start;
      this.start = 0;
    }
  }

  /** Calls `visit` with every slot still taken, oldest first; `visit` may remove or resend it. */
  forEach(visit: (slot: number) => void): void {
    const slots = this.slots;
    // Only the slots taken when the walk starts are visited.
    const end = slots.length;
    this.visiting = true;
    try {
      for (let slot = this.start; slot < end; slot += STRIDE) {
        if (slots[slot + EVENT] !== null) visit(slot);
      }
    } finally {
      this.visiting = false;
      this.compact();
    }
  }

  /**
   * Calls `visit` with every sent slot whose deadline has passed, oldest first; while none is due, no
   * slot is read. `visit` may remove or resend the slot.
   */
  forEachDue(now: number, visit: (slot: number) => void): void {
    if (this.earliestDeadline > now) return;
    // Recomputed by the walk from the slots that stay; a resend lowers it again for its new deadline.
    this.earliestDeadline = Number.POSITIVE_INFINITY;
    this.forEach((slot) => {
      if (this.target(slot) === null) return;
      const deadline = this.deadline(slot);
      if (deadline <= now) visit(slot);
      else if (deadline < this.earliestDeadline) this.earliestDeadline = deadline;
    });
  }

  /** The log position of the newest unacknowledged event (-1 when none). */
  newestPos(): number {
    const slots = this.slots;
    let newest = -1;
    for (let slot = this.start; slot < slots.length; slot += STRIDE) {
      const event = slots[slot + EVENT] as StoredEvent | null;
      if (event !== null && event.pos > newest) newest = event.pos;
    }
    return newest;
  }

  /** The log position of the oldest unacknowledged event (Infinity when none). */
  oldestPos(): number {
    const slots = this.slots;
    let oldest = Number.POSITIVE_INFINITY;
    for (let slot = this.start; slot < slots.length; slot += STRIDE) {
      const event = slots[slot + EVENT] as StoredEvent | null;
      if (event !== null && event.pos < oldest) {
        // In log order: the first taken slot is the oldest (read on each floor save and each scrape).
        if (this.ordered) return event.pos;
        oldest = event.pos;
      }
    }
    return oldest;
  }
}
