/**
 * An update that would give an instance a number (its `ownerJid`) another instance holds: the store
 * keeps one instance per number (a unique index, so concurrent updates and other nodes cannot both
 * pass a check made in memory), and wrote nothing of the update.
 */
export class OwnerJidTakenError extends Error {
  constructor(readonly ownerJid: string) {
    super(`${ownerJid} is already another instance's number`);
    this.name = 'OwnerJidTakenError';
  }
}
