import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventKey } from '../core/event-names.ts';
import { excerpt, PomboError } from '../core/errors.ts';
import { newToken } from '../core/ids.ts';
import type { ChannelRegistry } from '../channels/registry.ts';
import type { Authenticator } from '../core/auth.ts';
import type { Metrics } from '../ops/metrics.ts';
import { OwnerJidTakenError } from '../store/owner-jid-taken-error.ts';
import { NumberTakenError } from './number-taken-error.ts';
import { CLOSED_LOGGED_OUT, sessionClosed } from '../sources/sandbox/session-closed.ts';
import type { AppendRequest, AppendResult, ChannelsEdit, Instance, InstancePatch, Integration, KeyClaim, Store, StoredEvent } from '../store/types.ts';

export interface CreateInstance {
  instanceName: string;
  token?: string | undefined;
  integration: Integration;
  number?: string | undefined;
  channels: Record<string, unknown>;
}

export interface Emit {
  event: EventKey;
  data: unknown;
  producerId?: string | undefined;
  /** Envelope members beside `data` (a history sync's `isLatest` and `progress`). */
  extra?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Instances and their lifecycle. Keeps every instance in memory (they are few and read on every
 * request and every envelope); the store stays the source of truth.
 */
export class InstanceService {
  private readonly byName = new Map<string, Instance>();
  private readonly byId = new Map<string, Instance>();
  /** Which instance a WhatsApp JID is (its `ownerJid`): the sandbox routes by it, on every message. */
  private readonly byOwnerJid = new Map<string, string>();
  /**
   * Counts the changes made here and the reads of stored instances started (refresh, refreshOne);
   * `changedAt` keeps, per instance id, the count of what set it last: a change made here (a deletion
   * included), or the read it was taken in from, counted when that read started. A change made here, or
   * a read started, after a read started is at least as new as what that read gets.
   */
  private changes = 0;
  private readonly changedAt = new Map<string, number>();
  /** Refreshes under way: only they may need the mark of an instance deleted here (a later one lists it gone). */
  private refreshing = 0;

  constructor(
    private readonly store: Store,
    private readonly auth: Authenticator,
    private readonly channels: ChannelRegistry,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  async load(): Promise<Instance[]> {
    const all = await this.store.listInstances();
    for (const instance of all) this.cache(instance);
    return all;
  }

  private cache(instance: Instance, count = ++this.changes): Instance {
    const previous = this.byId.get(instance.id);
    if (previous && previous.name !== instance.name) this.byName.delete(previous.name);
    if (previous?.ownerJid && previous.ownerJid !== instance.ownerJid) this.unindexJid(previous);
    // The first instance to hold a JID keeps it: no later one can take over its messages.
    if (instance.ownerJid && !this.byOwnerJid.has(instance.ownerJid)) this.byOwnerJid.set(instance.ownerJid, instance.id);
    this.byId.set(instance.id, instance);
    this.byName.set(instance.name, instance);
    this.changedAt.set(instance.id, count);
    return instance;
  }

  private unindexJid(instance: Instance): void {
    if (instance.ownerJid && this.byOwnerJid.get(instance.ownerJid) === instance.id) this.byOwnerJid.delete(instance.ownerJid);
  }

  /** The instance whose WhatsApp JID this is, if any. */
  ownerOf(jid: string): Instance | undefined {
    const id = this.byOwnerJid.get(jid);
    return id === undefined ? undefined : this.byId.get(id);
  }

  get count(): number {
    return this.byId.size;
  }

  find(name: string): Instance | undefined {
    return this.byName.get(name);
  }

  findById(id: string): Instance | undefined {
    return this.byId.get(id);
  }

  /** By id or by name (the realtime protocol's `instance_id` accepts either). */
  resolve(idOrName: string): Instance | undefined {
    return this.byId.get(idOrName) ?? this.byName.get(idOrName);
  }

  get(name: string): Instance {
    const instance = this.byName.get(name);
    if (!instance) throw new PomboError('POMBO_ERR_INSTANCE_NOT_FOUND', { instance: excerpt(name) });
    return instance;
  }

  list(): Instance[] {
    return [...this.byId.values()];
  }

  async create(input: CreateInstance): Promise<Instance> {
    const exists = new PomboError('POMBO_ERR_INSTANCE_EXISTS', { instance: input.instanceName });
    if (this.byName.has(input.instanceName)) throw exists;
    const row = {
      id: randomUUID(),
      name: input.instanceName,
      token: input.token ?? newToken(),
      integration: input.integration,
      number: input.number ?? null,
      channels: input.channels,
    };
    // Another node sharing the store may have taken the name since this one cached its instances.
    const created = await this.store.createInstance(row).catch(async (error: unknown) => {
      throw (await this.store.getInstance(row.name)) ? exists : error;
    });
    const instance = this.cache(created);
    this.auth.remember(instance);
    await this.emit(instance, { event: 'INSTANCE_CREATE', data: { instanceName: instance.name, instanceId: instance.id } });
    this.channels.sync(instance);
    this.log.info({ instance: instance.name, integration: instance.integration }, 'instance created');
    return instance;
  }

  /**
   * Writes the patch. A number (`ownerJid`) this node's memory thought free may be another instance's:
   * given by a request answered meanwhile, or on another node (cluster mode). The store then rejects
   * with OwnerJidTakenError, writing nothing, and the update with NumberTakenError: what a caller's
   * own check of this node's memory answers (the same condition, and the same remedy).
   */
  async update(instance: Instance, patch: InstancePatch): Promise<Instance> {
    const updated = await this.store.updateInstance(instance.id, patch).catch((error: unknown) => {
      throw error instanceof OwnerJidTakenError ? new NumberTakenError({ integration: instance.integration, number: patch.number ?? instance.number }, error.ownerJid) : error;
    });
    return this.cache(updated);
  }

  /**
   * Changes channel configurations from the instance as stored now (another node may have changed it
   * since this one cached it), atomically: concurrent edits, here or on other nodes, are all kept.
   */
  async editChannels(instanceId: string, change: ChannelsEdit): Promise<Instance> {
    const edited = await this.store.editChannels(instanceId, change);
    if (!edited) throw new PomboError('POMBO_ERR_NOT_FOUND', { resource: `The instance ${instanceId}` });
    const updated = this.cache(edited);
    this.channels.sync(updated);
    return updated;
  }

  /** Appends events of one instance, all or nothing (with a claim, only if its key is free or its own: Store.append), and counts them. */
  async emitMany(instance: Instance, emits: readonly Emit[], source = 'api', claim?: KeyClaim): Promise<AppendResult[]> {
    const requests: AppendRequest[] = emits.map((emit) => ({
      instanceId: instance.id,
      event: emit.event,
      data: emit.data,
      producerId: emit.producerId,
      extra: emit.extra,
    }));
    const results = await this.store.append(requests, claim);
    // One counter update per event name, not per event: a batch of 100 costs a handful of label lookups.
    const appended = new Map<EventKey, number>();
    for (const { event, duplicate } of results) if (!duplicate) appended.set(event.event, (appended.get(event.event) ?? 0) + 1);
    for (const [event, count] of appended) this.metrics.eventsAppended.inc({ event, source }, count);
    return results;
  }

  async emit(instance: Instance, emit: Emit, source = 'api'): Promise<StoredEvent> {
    const [result] = await this.emitMany(instance, [emit], source);
    return (result as AppendResult).event;
  }

  /**
   * `DELETE /instance/logout`: as Evolution API reports a session Baileys closed as logged out, the
   * session's end (STATUS_INSTANCE, `status: 'closed'`), LOGOUT_INSTANCE, then CONNECTION_UPDATE `close`.
   */
  async logout(instance: Instance): Promise<Instance> {
    const updated = await this.update(instance, { state: 'close' });
    await this.emitMany(updated, [
      { event: 'STATUS_INSTANCE', data: sessionClosed(instance.name, CLOSED_LOGGED_OUT, `Log out instance: ${instance.name}`) },
      { event: 'LOGOUT_INSTANCE', data: null },
      { event: 'CONNECTION_UPDATE', data: { instance: instance.name, state: 'close', statusReason: CLOSED_LOGGED_OUT } },
    ]);
    return updated;
  }

  /**
   * Takes in what other nodes sharing the store changed (cluster mode): instances created, configured
   * or deleted elsewhere start, change or stop their destinations here too.
   */
  refresh(): Promise<void> {
    return this.takingIn(async (started) => {
      const current = await this.store.listInstances();
      const ids = new Set(current.map((instance) => instance.id));
      for (const instance of current) this.takeIn(instance, started);
      // Deleted on another node: where it ends in the log is read by the channels that need it.
      for (const gone of this.list().filter((instance) => !ids.has(instance.id) && !this.changedSince(instance.id, started))) this.forget(gone, undefined, this.refreshing - 1);
    });
  }

  /**
   * Takes in one instance another node wrote (cluster mode, heard at once): its configuration or its
   * state. One deleted meanwhile is left to the log's removal events and the periodic refresh.
   */
  refreshOne(id: string): Promise<void> {
    return this.takingIn(async (started) => {
      const instance = await this.store.getInstanceById(id);
      if (instance) this.takeIn(instance, started);
    });
  }

  /** Runs a read of stored instances, counted as it starts (see `changes`). */
  private async takingIn(read: (started: number) => Promise<void>): Promise<void> {
    this.refreshing++;
    try {
      await read(++this.changes);
    } finally {
      if (--this.refreshing === 0) this.forgetDeletions();
    }
  }

  /** Whether the instance was changed here, or taken in from a later read, since the read counted `started`. */
  private changedSince(id: string, started: number): boolean {
    return (this.changedAt.get(id) ?? 0) > started;
  }

  /** Starts, changes or keeps an instance as read by the read counted `started`, unless something newer set it since. */
  private takeIn(instance: Instance, started: number): void {
    const known = this.byId.get(instance.id);
    if (this.changedSince(instance.id, started) || (known && JSON.stringify(known) === JSON.stringify(instance))) return;
    this.cache(instance, started);
    this.auth.remember(instance);
    this.channels.sync(instance);
  }

  /**
   * Drops a deleted instance (here, or found gone by a refresh): its token, and its destinations, which
   * drain through `endPos`. A read under way that got it before its deletion must not bring it back:
   * marked until the reads under way end (forgetDeletions); with no other read under way, no mark is needed.
   */
  private forget(instance: Instance, endPos: number | undefined, otherReads: number): void {
    this.unindexJid(instance);
    this.byId.delete(instance.id);
    this.byName.delete(instance.name);
    if (otherReads > 0) this.changedAt.set(instance.id, ++this.changes);
    else this.changedAt.delete(instance.id);
    this.auth.forget(instance);
    void this.channels.release(instance, endPos);
  }

  /**
   * Drops the marks of the instances deleted here once no refresh is under way: a refresh that starts
   * later lists them gone, and counts from past every mark (so that ids are not kept for ever).
   */
  private forgetDeletions(): void {
    for (const id of this.changedAt.keys()) if (!this.byId.has(id)) this.changedAt.delete(id);
  }

  /** Emits the removal events, then deletes the instance; its destinations drain them first. */
  async delete(instance: Instance): Promise<void> {
    const removal = await this.emitMany(instance, [
      { event: 'INSTANCE_DELETE', data: { instanceName: instance.name, instanceId: instance.id } },
      { event: 'REMOVE_INSTANCE', data: null },
    ]);
    await this.store.deleteInstance(instance.id);
    this.forget(this.byId.get(instance.id) ?? instance, removal.at(-1)?.event.pos ?? 0, this.refreshing);
    this.log.info({ instance: instance.name }, 'instance deleted');
  }
}
