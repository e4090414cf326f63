import { PomboError } from '../../core/errors.ts';
import type { DeliveryLedger } from '../../store/types.ts';
import { feedId } from './realtime-feed.ts';

/** One instance's names: those used, and the new ones of handshakes under way. */
interface InstanceNames {
  /** Names that connected here or have a position in the store. */
  readonly used: Set<string>;
  /** New names with how many of their handshakes are under way; each counts toward the limit until they end. */
  readonly admitted: Map<string, number>;
}

/** Called once ws has answered the handshake: `true` when it became a connection. */
export type HandshakeEnded = (connected: boolean) => void;

const knownName: HandshakeEnded = () => undefined;

/**
 * The subscriber names each instance has used (REALTIME_MAX_SUBSCRIBERS). Every name keeps a position
 * in the store until the instance is deleted, so a token that made up a new name per connection would
 * grow the store without end. Names are read from the store once per instance, then counted here as
 * handshakes admit them (on one node; nodes sharing PostgreSQL each hold their own view). A new name is
 * counted from its admission, before ws upgrades the socket, so that concurrent handshakes of new names
 * cannot pass the limit together; a name whose handshakes all ended without a connection (a bad header,
 * a client gone) is let go, as it has no position.
 */
export class SubscriberNames {
  private readonly byInstance = new Map<string, Promise<InstanceNames>>();

  constructor(
    private readonly store: Pick<DeliveryLedger, 'listChildren'>,
    private readonly max: number,
  ) {}

  private namesOf(instanceId: string): Promise<InstanceNames> {
    let names = this.byInstance.get(instanceId);
    if (!names) {
      const prefix = `${feedId(instanceId)}:`;
      names = this.store
        .listChildren(feedId(instanceId))
        .then((ids) => ({ used: new Set(ids.map((id) => id.slice(prefix.length))), admitted: new Map() }));
      // A read that failed is tried again by the next handshake.
      names.catch(() => this.byInstance.delete(instanceId));
      this.byInstance.set(instanceId, names);
    }
    return names;
  }

  /**
   * Admits a known name, or a new one while the instance has fewer than the limit; a 403 otherwise.
   * The handshake must report how it ended through the function this resolves to.
   */
  async admit(instanceId: string, instanceName: string, name: string): Promise<HandshakeEnded> {
    const names = await this.namesOf(instanceId);
    if (names.used.has(name)) return knownName;
    const underWay = names.admitted.get(name) ?? 0;
    const count = names.used.size + names.admitted.size;
    if (underWay === 0 && count >= this.max) {
      throw new PomboError('POMBO_ERR_LIMIT_REACHED', { what: `"${instanceName}" has ${count} realtime subscriber names`, limit: this.max, variable: 'REALTIME_MAX_SUBSCRIBERS' });
    }
    names.admitted.set(name, underWay + 1);
    return (connected) => ended(names, name, connected);
  }

  /** After the instance is deleted (its positions with it). */
  forget(instanceId: string): void {
    this.byInstance.delete(instanceId);
  }
}

function ended(names: InstanceNames, name: string, connected: boolean): void {
  const underWay = names.admitted.get(name);
  // Another handshake of the name connected already: it is used.
  if (underWay === undefined) return;
  if (connected) {
    names.admitted.delete(name);
    names.used.add(name);
  } else if (underWay > 1) {
    names.admitted.set(name, underWay - 1);
  } else {
    names.admitted.delete(name);
  }
}
