import { IdempotencyKeyTakenError } from './idempotency-key-taken-error.ts';
import { scopedKey, type QueuedAppend } from './sql-rows.ts';
import type { KeyClaim, KeyHolder } from './types.ts';

/**
 * The claim a call makes, if any. An empty call appends nothing, so it claims nothing either, and is
 * not refused whoever holds its key: its key stays free for the calls of its commit and after.
 */
export const claimOf = ({ requests, claim }: Pick<QueuedAppend, 'requests' | 'claim'>): KeyClaim | undefined => (requests.length ? claim : undefined);

/** A claim a commit writes: a new key, or (`renews`) a key held before the commit whose retry appended events again. */
export interface ClaimWrite {
  readonly claim: KeyClaim;
  readonly eventIds: readonly string[];
  readonly renews: boolean;
}

/** What a call's claim needs of its results: which events it answered, and whether each was appended now. */
type CallResult = { readonly event: { readonly id: string }; readonly duplicate: boolean };

/**
 * The Idempotency-Key decisions of one commit, the same in every SQL store; each store looks the
 * holders up and writes the claims in its own SQL. A call whose key another request holds (another
 * fingerprint) is refused; a call's claim is written when its key is new, or held by the same request
 * and the call appended events again (a retry after retention deleted some), and it then holds the
 * key for the calls after it in the commit.
 */
export class CommitKeys {
  private readonly holders: Map<string, KeyHolder>;
  private readonly writes = new Map<string, ClaimWrite>();

  /**
   * `found`: the holders of the commit's keys, by scopedKey, as looked up before its calls are taken.
   * `heldAtStart`: the keys held when the commit began (by default those found; PostgreSQL, whose
   * commit may look up again, passes its first look-up's): a key another request holds that was not
   * held then was taken while this call was being written, and its refusal says so (`concurrent`).
   */
  constructor(found: ReadonlyMap<string, KeyHolder>, private readonly heldAtStart: ReadonlySet<string> = new Set(found.keys())) {
    this.holders = new Map(found);
  }

  /** The refusal of a call whose key another request holds; undefined when the call may append. */
  refusal(claim: KeyClaim): IdempotencyKeyTakenError | undefined {
    const scoped = scopedKey(claim.instanceId, claim.key);
    const holder = this.holders.get(scoped);
    if (!holder || holder.fingerprint === claim.fingerprint) return undefined;
    return new IdempotencyKeyTakenError(claim.key, holder.eventIds, !this.heldAtStart.has(scoped));
  }

  /** Takes the claim of a call that appended (`results`, in its order): written unless the key was held and nothing was appended again. */
  hold(claim: KeyClaim, results: readonly CallResult[]): void {
    const scoped = scopedKey(claim.instanceId, claim.key);
    const held = this.holders.has(scoped);
    if (held && results.every((result) => result.duplicate)) return;
    const eventIds = results.map(({ event }) => event.id);
    // A key this commit claims first stays an insert, whichever of its calls writes it last.
    this.writes.set(scoped, { claim, eventIds, renews: this.writes.get(scoped)?.renews ?? held });
    this.holders.set(scoped, { fingerprint: claim.fingerprint, eventIds });
  }

  /** The claims to write, one per key (a later call's replaces an earlier one's). */
  get claims(): ClaimWrite[] {
    return [...this.writes.values()];
  }
}
