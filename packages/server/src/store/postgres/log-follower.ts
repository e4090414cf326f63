import type { StoredEvent } from '../types.ts';

/** Events read per query when catching up with other nodes' appends. */
const PAGE = 1000;

/** A page of a catch-up read: the events this node's listeners wanted when it started. */
export interface FollowedPage {
  readonly events: StoredEvent[];
  /** Whether the page still holds all they want now (a listener may have come while it was read). */
  current(): boolean;
}

export interface LogFollowerSource {
  /** The committed events with `after < pos <= until` that this node's listeners want, oldest first, at most `limit`. */
  read(after: number, until: number, limit: number): Promise<FollowedPage>;
  /** Called with each run of events, in position order, none skipped that a listener wants (possibly none, the head moving). */
  publish(events: readonly StoredEvent[], head: number): void;
  /** A catch-up read failed: the next notification or poll tries again. */
  failed(error: unknown): void;
}

/**
 * Hands this node's listeners every committed event of the shared log they want, in position order
 * and with none skipped, whichever node appended it. Appends are committed in position order (under the
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
  /** The newest head heard from any node. */
  private heardHead = 0;
  /** A catch-up for heard heads is queued and has not started: it will read to `heardHead`, whatever is heard meanwhile. */
  private catchUpWaiting = false;

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
    const head = (events.at(-1) as StoredEvent).pos;
    if (this.queued === 0 && previous <= this.published) {
      this.emit(events, head);
      return undefined;
    }
    return this.enqueue(async () => {
      await this.catchUp(previous);
      this.emit(events, head);
    });
  }

  /** Some node committed up to `head` (a notification or a poll). */
  heard(head: number): void {
    if (head > this.heardHead) this.heardHead = head;
    // Heads heard while a catch-up waits its turn join it: one read for a burst of notifications.
    if (this.catchUpWaiting || (head <= this.published && this.queued === 0)) return;
    this.catchUpWaiting = true;
    void this.enqueue(() => {
      this.catchUpWaiting = false;
      return this.catchUp(this.heardHead);
    });
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
      let page = await this.source.read(this.published, head, PAGE);
      // A listener that came during the read (a worker started, a socket connected) may want events it
      // left out: read again. Checked and handed over with no await between, so none slips through.
      while (!page.current()) page = await this.source.read(this.published, head, PAGE);
      // A short page: the rest up to the head are events no listener wants, or positions of rolled-back commits.
      const through = page.events.length < PAGE ? head : (page.events.at(-1) as StoredEvent).pos;
      this.emit(page.events, through);
    }
  }

  private emit(events: readonly StoredEvent[], head: number): void {
    if (head <= this.published) return;
    const fresh = events.filter((event) => event.pos > this.published);
    this.published = head;
    this.source.publish(fresh, head);
  }
}
