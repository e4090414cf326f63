/**
 * An append refused because another request holds its Idempotency-Key (a claim with another
 * fingerprint): nothing of the call was appended.
 */
export class IdempotencyKeyTakenError extends Error {
  constructor(
    readonly key: string,
    /** The events the other request stored under the key, in its order (retention may have deleted some since). */
    readonly eventIds: readonly string[],
    /**
     * Whether the other request took the key while this one was being written (in the same commit, or
     * on another node between this commit's look-up and its write), rather than before this commit began.
     */
    readonly concurrent: boolean,
  ) {
    super(`the Idempotency-Key ${JSON.stringify(key)} belongs to another request: nothing was appended`);
    this.name = 'IdempotencyKeyTakenError';
  }
}
