import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventKey } from '../core/event-names.ts';
import { excerpt, PomboError, validationError } from '../core/errors.ts';
import { newToken } from '../core/ids.ts';
import type { ChannelRegistry } from '../channels/registry.ts';
import type { Authenticator } from '../core/auth.ts';
import type { Metrics } from '../ops/metrics.ts';
import { OwnerJidTakenError } from '../store/owner-jid-taken-error.ts';
import { TokenTakenError } from '../store/token-taken-error.ts';
import { NumberTakenError } from './number-taken-error.ts';
import { CLOSED_LOGGED_OUT, sessionClosed } from '../sources/sandbox/session-closed.ts';
import type { AppendRequest, AppendResult, ChannelsEdit, Instance, InstancePatch, Integration, KeyClaim, Store, StoredEvent } from '../store/types.ts';

/** A token asked for at creation that another instance (or the global key) holds. */
export const TOKEN_TAKEN = 'token is already in use: choose another one, or leave it out to get a generated one';

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
   * The store's answers under way that may bring an instance in: reads (refresh, refreshOne) and writes
   * made here (update, editChannels). Of those answers, and of the copy kept, the one with the highest
   * version is kept (Instance.version), whatever order they arrive in. An instance deleted has no copy
   * left to compare with: an answer read before its deletion must not bring it back, so its id is in
   * `deleted` until the answers under way end (those that start later find it gone).
   */
  private answering = 0;
  private readonly deleted = new Set<string>();

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

  private cache(instance: Instance): Instance {
    const previous = this.byId.get(instance.id);
    if (previous && previous.name !== instance.name) this.byName.delete(previous.name);
    if (previous?.ownerJid && previous.ownerJid !== instance.ownerJid) this.unindexJid(previous);
    // The first instance to hold a JID keeps it: no later one can take over its messages.
    if (instance.ownerJid && !this.byOwnerJid.has(instance.ownerJid)) this.byOwnerJid.set(instance.ownerJid, instance.id);
    this.byId.set(instance.id, instance);
    this.byName.set(instance.name, instance);
    return instance;
  }

  /** Caches the instance if it is newer than the copy kept (a higher version), or the first copy of one not marked deleted. */
  private keep(instance: Instance): boolean {
    const known = this.byId.get(instance.id);
    if (known ? instance.version <= known.version : this.deleted.has(instance.id)) return false;
    this.cache(instance);
    return true;
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
      if (await this.store.getInstance(row.name)) throw exists;
      throw error instanceof TokenTakenError ? validationError(TOKEN_TAKEN) : error;
    });
    // A copy read since the row was written may be newer already (changed on another node meanwhile).
    const instance = this.keep(created) ? created : (this.byId.get(created.id) ?? created);
    this.auth.remember(instance);
    // The channels of the creation start first, at the head as it is before INSTANCE_CREATE (in cluster
    // mode, stored for whichever node runs them): they deliver it, as Evolution API's do.
    await this.channels.sync(instance);
    await this.emit(instance, { event: 'INSTANCE_CREATE', data: { instanceName: instance.name, instanceId: instance.id } });
    this.log.info({ instance: instance.name, integration: instance.integration }, 'instance created');
    return instance;
  }

  /**
   * Writes the patch. A number (`ownerJid`) this node's memory thought free may be another instance's:
   * given by a request answered meanwhile, or on another node (cluster mode). The store then rejects
   * with OwnerJidTakenError, writing nothing, and the update with NumberTakenError: what a caller's
   * own check of this node's memory answers (the same condition, and the same remedy). Answers the
   * instance as this write left it; a newer copy read meanwhile stays the one kept. One deleted
   * meanwhile (here, or on another node) is not found.
   */
  async update(instance: Instance, patch: InstancePatch): Promise<Instance> {
    const write = this.store.updateInstance(instance.id, patch).catch((error: unknown) => {
      throw error instanceof OwnerJidTakenError ? new NumberTakenError({ integration: instance.integration, number: patch.number ?? instance.number }, error.ownerJid) : error;
    });
    // Its answer is the whole row: it may carry a channel edit answered later (a /webhook/set under way),
    // which would then be older than the copy kept and not applied: taken in like a read, it is applied now.
    const updated = await this.takingIn(write, (answer) => answer && this.takeIn(answer));
    if (!updated) throw new PomboError('POMBO_ERR_INSTANCE_NOT_FOUND', { instance: excerpt(instance.name) });
    return updated;
  }

  /**
   * Changes channel configurations from the instance as stored now (another node may have changed it
   * since this one cached it), atomically: concurrent edits, here or on other nodes, are all kept.
   * Answers the instance as this edit left it; a newer copy read meanwhile stays the one kept.
   */
  async editChannels(instanceId: string, change: ChannelsEdit): Promise<Instance> {
    let started: Promise<void> | undefined;
    const edited = await this.takingIn(this.store.editChannels(instanceId, change), (answer) => {
      if (answer && this.keep(answer)) started = this.channels.sync(answer);
    });
    if (!edited) throw new PomboError('POMBO_ERR_NOT_FOUND', { resource: `The instance ${instanceId}` });
    // A destination the edit adds starts with what is appended after this answer (in cluster mode, once its first cursor is stored).
    await started;
    return edited;
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
  async refresh(): Promise<void> {
    // Known before the list is read, an instance is in it unless it was deleted; one cached later (created
    // here meanwhile) may be missing from it.
    const known = [...this.byId.keys()];
    await this.takingIn(this.store.listInstances(), (current) => {
      const ids = new Set(current.map((instance) => instance.id));
      for (const instance of current) this.takeIn(instance);
      // Deleted on another node: where it ends in the log is read by the channels that need it.
      for (const id of known) {
        const gone = ids.has(id) ? undefined : this.byId.get(id);
        if (gone) this.forget(gone, undefined, this.answering - 1);
      }
    });
  }

  /**
   * Takes in one instance another node wrote (cluster mode, heard at once): its configuration or its
   * state. One deleted meanwhile is left to the log's removal events and the periodic refresh.
   */
  async refreshOne(id: string): Promise<void> {
    await this.takingIn(this.store.getInstanceById(id), (instance) => {
      if (instance) this.takeIn(instance);
    });
  }

  /**
   * Applies the store's answer once it arrives (`take`: what of it is newer than the copies kept), counted
   * as under way until then (see `answering`).
   */
  private async takingIn<T>(answer: Promise<T>, take: (answer: T) => void): Promise<T> {
    this.answering++;
    try {
      const answered = await answer;
      take(answered);
      return answered;
    } finally {
      if (--this.answering === 0) this.deleted.clear();
    }
  }

  /** Starts or changes an instance as read from the store, unless the copy kept is as new (or it is marked deleted). */
  private takeIn(instance: Instance): void {
    const replaced = this.byId.get(instance.id);
    if (!this.keep(instance)) return;
    this.auth.remember(instance);
    // Destinations are built from the channels alone: a state change (a connect, a logout) leaves them be.
    if (replaced && JSON.stringify(replaced.channels) === JSON.stringify(instance.channels)) return;
    void this.channels.sync(instance);
  }

  /**
   * Drops a deleted instance (here, or found gone by a refresh): its token, and its destinations, which
   * drain through `endPos`. An answer under way that got it before its deletion must not bring it back:
   * marked deleted until the answers under way end (takingIn); with no other answer under way, no mark is needed.
   */
  private forget(instance: Instance, endPos: number | undefined, otherAnswers: number): void {
    this.unindexJid(instance);
    this.byId.delete(instance.id);
    // Its name may be a new instance's already (deleted and created again on another node, both taken in by one refresh).
    if (this.byName.get(instance.name)?.id === instance.id) this.byName.delete(instance.name);
    if (otherAnswers > 0) this.deleted.add(instance.id);
    this.auth.forget(instance);
    void this.channels.release(instance, endPos);
  }

  /** Emits the removal events, then deletes the instance; its destinations drain them first. */
  async delete(instance: Instance): Promise<void> {
    const removal = await this.emitMany(instance, [
      { event: 'INSTANCE_DELETE', data: { instanceName: instance.name, instanceId: instance.id } },
      { event: 'REMOVE_INSTANCE', data: null },
    ]);
    await this.store.deleteInstance(instance.id);
    this.forget(this.byId.get(instance.id) ?? instance, removal.at(-1)?.event.pos ?? 0, this.answering);
    this.log.info({ instance: instance.name }, 'instance deleted');
  }
}
