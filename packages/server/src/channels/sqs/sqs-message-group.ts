import { createHash } from 'node:crypto';

/** What SQS takes as a message group id: 1 to 128 letters, digits and ASCII punctuation (no spaces). */
const VALID_GROUP = /^[\x21-\x7e]{1,128}$/;
const HASH_LENGTH = 16;

/**
 * The FIFO message group for an instance or a chat (`{instance}/{chat}`). A chat id SQS would refuse
 * (an ingested event may carry spaces, accents or 200 characters in `remoteJid`) would have every
 * message of that chat refused, for ever: such a group keeps its readable characters and ends with a
 * hash of the whole, so two chats never share a group.
 */
export function messageGroupId(group: string): string {
  if (VALID_GROUP.test(group)) return group;
  const hash = createHash('sha256').update(group).digest('hex').slice(0, HASH_LENGTH);
  return `${group.replace(/[^\x21-\x7e]/g, '_').slice(0, 128 - HASH_LENGTH - 1)}#${hash}`;
}
