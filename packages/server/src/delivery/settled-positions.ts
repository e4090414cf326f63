/**
 * The position a destination may save: the highest one up to which every event it read from the log
 * is settled (delivered, given up, or durably recorded as a pending retry). It is computed from the
 * positions themselves, kept sorted, so it does not depend on the order in which events were read,
 * finished or retried, nor on which lane (chat) they travelled in.
 *
 * Events are opened in log order in practice (the reader only moves forward), so opening is a push and
 * settling the lowest open position is O(1); settling another one is a binary search. Nothing is
 * allocated per event beyond the arrays' amortised growth.
 */
export class SettledPositions {
  /** Open positions, ascending, from `start` on; `done[i]` says whether `positions[i]` is settled. */
  private positions: number[] = [];
  private done: boolean[] = [];
  private start = 0;

  /** An event read from the log at `pos`: the saved position cannot pass it until it is settled. */
  add(pos: number): void {
    const last = this.positions[this.positions.length - 1];
    if (this.start === this.positions.length || (last as number) < pos) {
      this.positions.push(pos);
      this.done.push(false);
      return;
    }
    const index = this.indexOf(pos);
    if (this.positions[index] === pos) return;
    this.positions.splice(index, 0, pos);
    this.done.splice(index, 0, false);
  }

  /** The event at `pos` is settled (unknown positions are ignored: replays and reloaded retries never hold the position). */
  settle(pos: number): void {
    const index = this.indexOf(pos);
    if (this.positions[index] !== pos) return;
    this.done[index] = true;
    while (this.start < this.positions.length && this.done[this.start]) this.start++;
    this.compact();
  }

  /** The position to save: everything up to it is settled, and it is never beyond `readThrough`, the last position read. */
  through(readThrough: number): number {
    const lowestOpen = this.positions[this.start];
    return lowestOpen === undefined ? readThrough : Math.min(readThrough, lowestOpen - 1);
  }

  /** The first index from `start` whose position is not below `pos`. */
  private indexOf(pos: number): number {
    let low = this.start;
    let high = this.positions.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.positions[middle] as number) < pos) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Drops the settled prefix now and then, so the arrays do not grow with every event ever read. */
  private compact(): void {
    if (this.start === this.positions.length) {
      this.positions.length = 0;
      this.done.length = 0;
      this.start = 0;
    } else if (this.start >= 1024 && this.start * 2 >= this.positions.length) {
      this.positions = this.positions.slice(this.start);
      this.done = this.done.slice(this.start);
      this.start = 0;
    }
  }
}
