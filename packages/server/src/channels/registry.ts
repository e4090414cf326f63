import type { Dispatcher } from '../delivery/dispatcher.ts';
import type { Instance } from '../store/types.ts';
import type { ChannelModule } from './channel.ts';

/** The configured channels, and the destinations each instance's configuration asks the dispatcher for. */
export class ChannelRegistry {
  private readonly modules = new Map<string, ChannelModule>();
  private readonly owned = new Map<string, Set<string>>();

  constructor(private readonly dispatcher: Dispatcher) {}

  register(module: ChannelModule): void {
    this.modules.set(module.name, module);
  }

  get(name: string): ChannelModule | undefined {
    return this.modules.get(name);
  }

  all(): ChannelModule[] {
    return [...this.modules.values()];
  }

  /** Starts the destinations configured by the environment. */
  startGlobal(): void {
    for (const module of this.modules.values()) {
      for (const spec of module.globalDestinations()) void this.dispatcher.upsert(spec);
    }
  }

  /**
   * Makes the dispatcher's destinations match the instance's configuration. The promise resolves once
   * the new ones' starts are fixed (Dispatcher.upsert): they deliver what the instance appends after
   * that; it never rejects. Not async: a configuration a channel cannot build from throws to the caller
   * at once, as before the promise was added, not as a rejection that callers who do not wait would drop.
   */
  sync(instance: Instance): Promise<void> {
    const wanted = new Set<string>();
    const started: Promise<void>[] = [];
    for (const module of this.modules.values()) {
      for (const spec of module.destinations(instance)) {
        wanted.add(spec.id);
        started.push(this.dispatcher.upsert(spec));
      }
      for (const destination of module.disabledDestinations?.(instance) ?? []) {
        // Owned too: the instance's deletion forgets its cursor and records with the others'.
        wanted.add(destination.id);
        void this.dispatcher.disable(destination);
      }
    }
    for (const id of this.owned.get(instance.id) ?? []) {
      if (!wanted.has(id)) void this.dispatcher.remove(id);
    }
    this.owned.set(instance.id, wanted);
    return Promise.all(started).then(() => undefined);
  }

  /**
   * After an instance is deleted: stops its destinations once they have drained (at most `graceMs`) and
   * forgets them, lets every channel release what else it keeps for the instance, then removes its
   * metric series.
   */
  async release(instance: Instance, removalPos: number | undefined, graceMs = 10_000): Promise<void> {
    const ids = [...(this.owned.get(instance.id) ?? [])];
    this.owned.delete(instance.id);
    await Promise.all([
      ...ids.map(async (id) => {
        await Promise.race([this.dispatcher.whenIdle(id), new Promise((r) => setTimeout(r, graceMs).unref())]);
        await this.dispatcher.remove(id, { forget: true });
      }),
      ...[...this.modules.values()].map((module) => module.released?.(instance, removalPos)),
    ]);
    // Last, so that nothing of the instance counts again after: its metric series go.
    await this.dispatcher.forgetInstance(instance);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.modules.values()].map((module) => module.stop?.()));
  }
}
