/**
 * A new instance whose token another instance holds: the store keeps one instance per token (a unique
 * index, so concurrent creations, here or on other nodes, cannot both pass a check made in memory), and
 * wrote nothing of it.
 */
export class TokenTakenError extends Error {
  constructor() {
    super("the token is already another instance's");
    this.name = 'TokenTakenError';
  }
}
