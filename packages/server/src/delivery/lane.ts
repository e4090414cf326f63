/**
 * The events of one lane, in log order. A lane under `instance` ordering can hold a destination's
 * whole window (thousands of events) and gives up its head once per delivery: the head is an index,
 * so that costs O(1) instead of moving every element as `Array.shift` does on a large array.
 */
export class Lane<T extends { readonly event: { readonly pos: number } }> {
  private items: T[] = [];
  private start = 0;

  get size(): number {
    return this.items.length - this.start;
  }

  /** The item `offset` places behind the head (0: the head). */
  at(offset: number): T | undefined {
    return this.items[this.start + offset];
  }

  /** Adds an item at its place by position (at the end, unless it is a replay or a reloaded retry). */
  insert(item: T): void {
    const last = this.items[this.items.length - 1];
    if (this.size === 0 || (last as T).event.pos < item.event.pos) {
      this.items.push(item);
      return;
    }
    let index = this.start;
    while (index < this.items.length && (this.items[index] as T).event.pos < item.event.pos) index++;
    this.items.splice(index, 0, item);
  }

  remove(item: T): void {
    if (this.items[this.start] === item) {
      this.items[this.start++] = undefined as unknown as T;
      // Compacts now and then, so the array does not grow with every event the lane ever held.
      if (this.start === this.items.length) this.clear();
      else if (this.start >= 1024 && this.start * 2 >= this.items.length) {
        this.items = this.items.slice(this.start);
        this.start = 0;
      }
      return;
    }
    const index = this.items.indexOf(item, this.start);
    if (index >= 0) this.items.splice(index, 1);
  }

  private clear(): void {
    this.items = [];
    this.start = 0;
  }
}
