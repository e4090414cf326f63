import { excerpt, PomboError } from '../core/errors.ts';
import type { Instance } from '../store/types.ts';
import { isSandboxed } from './integration.ts';

/**
 * The refusal (400) of a number (`ownerJid`) another instance holds, whether this node's memory or the
 * store found it taken (the same condition, so the same answer), in the words of the instance's
 * source: the sandbox gave the number at create, a producer named it as its events' sender.
 */
export class NumberTakenError extends PomboError {
  constructor(instance: Pick<Instance, 'integration' | 'number'>, ownerJid: string) {
    const detail = isSandboxed(instance.integration)
      ? `the number ${instance.number ?? ownerJid} is already another instance's: delete this instance and create it with another number`
      : `sender "${excerpt(ownerJid)}" is the number of another instance on this server; an instance's events cannot speak for another`;
    super('POMBO_ERR_VALIDATION', { detail });
    this.name = 'NumberTakenError';
  }
}
