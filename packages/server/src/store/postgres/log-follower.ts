import type { StoredEvent } from '../types.ts';

/** Events read per query when catching up with other nodes' appends. */
const PAGE = 1000;

export interface LogFollowerSource {
  /** Committed events with `after < pos <= until`, oldest first, at most `limit`. */
  read(after: number, until: number, limit: number): Promise<StoredEvent[]>;
  /** Called with each run of events, in position order, none skipped. */
  publish(events: readonly StoredEvent[]): void;
  /** A catch-up read failed: the next notification or poll tries again. */
  failed(error: unknown): void;
}

/**
 * Hands this node's listeners every committed event of the shared log, in position order and with
 * none skipped, whichever node appended it. Appends are committed in position order (under the
 * append lock), so a head heard from any node (its own commit, a NOTIFY, a poll) means every position
 * up to it is committed or never will be: what this node has not published yet is read from the
 * database first. On a node alone with its database nothing is ever missing, and its own commits are
 * published at once, as before clustering.
 */
export class LogFollower {
  private published: number;
  /** Catch-ups in progress, run one after another. */
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(
    head: number,
    private readonly source: LogFollowerSource,
  ) {
    this.published = head;
  }

  /** The newest position published to this node's listeners. */
  get head(): number {
    return this.published;
  }

  /**
   * This node committed `events`; `previous` is the newest position committed before them. Published
   * at once when nothing is missing before them; otherwise resolves once they are (a catch-up first).
   */
  committed(events: readonly StoredEvent[], previous: number): Promise<void> | undefined {
    if (this.queued === 0 && previous <= this.published) {
      this.emit(events);
      return undefined;
    }
    return this.enqueue(async () => {
      await this.catchUp(previous);
      this.emit(events);
    });
  }

  /** Some node committed up to `head` (a notification or a poll). */
  heard(head: number): void {
    if (head > this.published || this.queued > 0) void this.enqueue(() => this.catchUp(head));
  }

  /** Resolves once every catch-up queued so far is done. */
  settled(): Promise<void> {
    return this.chain;
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.queued++;
    this.chain = this.chain
      .then(step)
      .catch((error: unknown) => this.source.failed(error))
      .finally(() => this.queued--);
    return this.chain;
  }

  private async catchUp(head: number): Promise<void> {
    while (this.published < head) {
      const events = await this.source.read(this.published, head, PAGE);
      this.emit(events);
      // A short page: the rest up to the head are positions of rolled-back commits.
      if (events.length < PAGE) this.published = Math.max(this.published, head);
    }
  }

  private emit(events: readonly StoredEvent[]): void {
    const fresh = events.filter((event) => event.pos > this.published);
    const last = fresh.at(-1);
    if (!last) return;
    this.published = last.pos;
    this.source.publish(fresh);
  }
}
