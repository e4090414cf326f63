import { createHash, timingSafeEqual } from 'node:crypto';
import { excerpt, PomboError } from './errors.ts';
import type { Instance } from '../store/types.ts';

/** Who is calling: the holder of the global API key, or of one instance's token. */
export type Principal = { kind: 'global' } | { kind: 'instance'; instanceId: string };

const digest = (secret: string): Buffer => createHash('sha256').update(secret).digest();

/**
 * Resolves keys to principals. Instance tokens are indexed by their SHA-256, so a lookup never
 * compares a presented key against every token.
 */
export class Authenticator {
  private readonly byTokenDigest = new Map<string, string>();
  private readonly globalDigest: Buffer;

  constructor(globalKey: string) {
    this.globalDigest = digest(globalKey);
  }

  remember(instance: Pick<Instance, 'id' | 'token'>): void {
    this.byTokenDigest.set(digest(instance.token).toString('hex'), instance.id);
  }

  /** Forgets the instance's token, unless it now opens another instance (it is never taken from that one). */
  forget(instance: Pick<Instance, 'id' | 'token'>): void {
    const key = digest(instance.token).toString('hex');
    if (this.byTokenDigest.get(key) === instance.id) this.byTokenDigest.delete(key);
  }

  /** The principal of a key, or undefined when the key is unknown. */
  identify(key: string | undefined): Principal | undefined {
    // Not a string: a parsed body's field may be anything, whatever its declared type says.
    if (typeof key !== 'string' || !key) return undefined;
    // One hash of the presented key serves both checks (it runs on every request).
    const presented = digest(key);
    if (timingSafeEqual(presented, this.globalDigest)) return { kind: 'global' };
    const instanceId = this.byTokenDigest.get(presented.toString('hex'));
    return instanceId ? { kind: 'instance', instanceId } : undefined;
  }

  /** Throws 401 for a missing or unknown key. */
  require(key: string | undefined): Principal {
    const principal = this.identify(key);
    if (!principal) throw new PomboError('POMBO_ERR_UNAUTHORIZED');
    return principal;
  }

  requireGlobal(key: string | undefined): void {
    if (this.require(key).kind !== 'global') {
      throw new PomboError('POMBO_ERR_FORBIDDEN', { resource: 'this route: it needs the global API key' });
    }
  }

  /**
   * The instance named `name` (`instance`: what the name resolved to, if anything) when the principal
   * may act on it. The global key learns whether a name exists (404); an instance token gets 403 for
   * every name but its own instance's, whether or not it exists, so it cannot probe for other tenants.
   */
  static authorize<T extends Pick<Instance, 'id'>>(principal: Principal, name: string, instance: T | undefined): T {
    if (principal.kind === 'instance' && principal.instanceId !== instance?.id) {
      throw new PomboError('POMBO_ERR_FORBIDDEN', { resource: `the "${excerpt(name)}" instance` });
    }
    if (!instance) throw new PomboError('POMBO_ERR_INSTANCE_NOT_FOUND', { instance: excerpt(name) });
    return instance;
  }
}
