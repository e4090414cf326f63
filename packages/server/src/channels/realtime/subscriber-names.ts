import { PomboError } from '../../core/errors.ts';
import type { DeliveryLedger } from '../../store/types.ts';
import { feedId } from './realtime-feed.ts';

/**
 * The subscriber names each instance has used (REALTIME_MAX_SUBSCRIBERS). Every name keeps a position
 * in the store until the instance is deleted, so a token that made up a new name per connection would
 * grow the store without end. Names are read from the store once per instance, then counted here as
 * handshakes admit them (on one node; nodes sharing PostgreSQL each hold their own view).
 */
export class SubscriberNames {
  private readonly byInstance = new Map<string, Promise<Set<string>>>();

  constructor(
    private readonly store: Pick<DeliveryLedger, 'listChildren'>,
    private readonly max: number,
  ) {}

  private namesOf(instanceId: string): Promise<Set<string>> {
    let names = this.byInstance.get(instanceId);
    if (!names) {
      const prefix = `${feedId(instanceId)}:`;
      names = this.store.listChildren(feedId(instanceId)).then((ids) => new Set(ids.map((id) => id.slice(prefix.length))));
      // A read that failed is tried again by the next handshake.
      names.catch(() => this.byInstance.delete(instanceId));
      this.byInstance.set(instanceId, names);
    }
    return names;
  }

  /** Admits a known name, or a new one while the instance has fewer than the limit; a 403 otherwise. */
  async admit(instanceId: string, instanceName: string, name: string): Promise<void> {
    const names = await this.namesOf(instanceId);
    if (names.has(name)) return;
    if (names.size >= this.max) {
      throw new PomboError('POMBO_ERR_LIMIT_REACHED', { what: `"${instanceName}" has ${names.size} realtime subscriber names`, limit: this.max, variable: 'REALTIME_MAX_SUBSCRIBERS' });
    }
    names.add(name);
  }

  /** After the instance is deleted (its positions with it). */
  forget(instanceId: string): void {
    this.byInstance.delete(instanceId);
  }
}
