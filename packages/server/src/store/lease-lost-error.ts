/**
 * A cursor or delivery write of a destination (or a durable realtime subscriber's floor) whose lease
 * went to another node (cluster mode, docs/cluster.md): nothing of it was written.
 */
export class LeaseLostError extends Error {
  constructor(readonly destination: string) {
    super(`the lease of ${destination} went to another node: its delivery state was not written`);
    this.name = 'LeaseLostError';
  }
}
