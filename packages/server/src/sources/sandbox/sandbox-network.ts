import { randomBytes, randomInt } from 'node:crypto';
import { PomboError, validationError, excerpt } from '../../core/errors.ts';
import type { InstanceService } from '../../instances/instance-service.ts';
import { isSandboxed } from '../../instances/integration.ts';
import { NumberTakenError } from '../../instances/number-taken-error.ts';
import type { Instance, Store } from '../../store/types.ts';
import type { MediaStore } from './media-store.ts';
import { newQrCode, type QrCode } from './qr-code.ts';
import { historySync } from './history-sync.ts';
import { CLOSED_FORBIDDEN, sessionClosed } from './session-closed.ts';
import { messageRecords } from '../../log-views/message-records.ts';
import { groupList } from '../../log-views/group-list.ts';

const USER_SUFFIX = '@s.whatsapp.net';
const GROUP_SUFFIX = '@g.us';

/** The longest text or caption a message may carry: WhatsApp's own limit. */
export const SANDBOX_TEXT_MAX = 65_536;

export const jidOf = (number: string): string => (number.includes('@') ? number : `${number.replace(/\D/g, '')}${USER_SUFFIX}`);
/** Baileys' DisconnectReason for a connect that failed otherwise than refused (CLOSED_FORBIDDEN): badSession, its reason for an error of its own. */
const CLOSED_FAILED = 500;

const messageId = (): string => `3EB0${randomBytes(8).toString('hex').toUpperCase()}`;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Base64 media, bare or as a data URI; a 400 when it is neither base64 nor a URL. */
function decodeBase64(media: string): Buffer {
  const encoded = media.replace(/^data:[^,]*;base64,/, '').replace(/\s+/g, '');
  const bytes = Buffer.from(encoded, 'base64');
  if (!bytes.length || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) {
    throw validationError('media must be an http(s) URL or the file in base64');
  }
  return bytes;
}

interface Group {
  id: string;
  /** The instance that created it: the group goes when that instance is deleted. */
  creatorId: string;
  subject: string;
  owner: string;
  creation: number;
  participants: Set<string>;
  /** Participants promoted to admin (the owner is the superadmin, never in here). */
  admins: Set<string>;
}

/** What one instance may hold in the sandbox (SANDBOX_MAX_GROUPS, SANDBOX_GROUP_MAX_PARTICIPANTS). */
export interface SandboxLimits {
  maxGroups: number;
  maxParticipants: number;
}

/** A message as the sender's SEND_MESSAGE carries it. */
export interface SentMessage {
  key: { remoteJid: string; fromMe: true; id: string };
  pushName: string;
  status: string;
  message: Record<string, unknown>;
  messageType: string;
  messageTimestamp: number;
  instanceId: string;
  source: string;
}

export type MediaType = 'image' | 'video' | 'audio' | 'document';

export interface MediaMessage {
  mediatype: MediaType;
  mimetype?: string | undefined;
  caption?: string | undefined;
  fileName?: string | undefined;
  /** An http(s) URL (referenced as is, never fetched) or base64 bytes (stored in the media store). */
  media: string;
}

const DEFAULT_MIMETYPE: Record<MediaType, string> = {
  image: 'image/jpeg',
  video: 'video/mp4',
  audio: 'audio/ogg; codecs=opus',
  document: 'application/octet-stream',
};

/**
 * A simulated WhatsApp network: every SANDBOX instance is a number, and numbers talk to each other
 * through Pombo itself, so everything can be demoed and tested offline. Payloads are shaped like
 * Evolution API's (Baileys) ones.
 */
export class SandboxNetwork {
  private readonly groups = new Map<string, Group>();
  /** The ids of the groups each instance created, to count them and to forget them with the instance. */
  private readonly groupsByCreator = new Map<string, Set<string>>();

  constructor(
    private readonly instances: InstanceService,
    readonly media: MediaStore,
    readonly limits: SandboxLimits,
    private readonly store: Store,
  ) {}

  /** A fresh sandbox number (Brazil's country code and a reserved-looking prefix) that no instance holds. */
  private newNumber(): string {
    for (;;) {
      const number = `5500${randomInt(100_000_000, 999_999_999)}`;
      if (!this.instances.ownerOf(jidOf(number))) return number;
    }
  }

  /** An indexed lookup: a message or a group of a thousand members costs one map read per member. */
  private connectedByJid(jid: string): Instance | undefined {
    const instance = this.instances.ownerOf(jid);
    return instance && isSandboxed(instance.integration) && instance.state === 'open' ? instance : undefined;
  }

  /** The number another instance already is, which a new sandbox instance cannot take (its messages would be diverted). */
  numberTaken(number: string): boolean {
    return this.instances.list().some((instance) => instance.number === number && isSandboxed(instance.integration)) || this.instances.ownerOf(jidOf(number)) !== undefined;
  }

  /** Forgets a deleted instance's groups. */
  forget(instance: Instance): void {
    for (const id of this.groupsByCreator.get(instance.id) ?? []) this.groups.delete(id);
    this.groupsByCreator.delete(instance.id);
  }

  groupCount(instance: Instance): number {
    return this.groupsByCreator.get(instance.id)?.size ?? 0;
  }

  private requireOpen(instance: Instance, action: string): string {
    if (!isSandboxed(instance.integration)) {
      throw new PomboError('POMBO_ERR_WRONG_INTEGRATION', { instance: instance.name, integration: instance.integration, action });
    }
    if (instance.state !== 'open' || !instance.ownerJid) {
      throw new PomboError('POMBO_ERR_INSTANCE_NOT_CONNECTED', { instance: instance.name });
    }
    return instance.ownerJid;
  }

  /** Connecting shows a QR code, which the sandbox "scans" at once. */
  async connect(instance: Instance): Promise<QrCode> {
    if (!isSandboxed(instance.integration)) {
      throw new PomboError('POMBO_ERR_WRONG_INTEGRATION', { instance: instance.name, integration: instance.integration, action: 'be connected by Pombo (its producer reports CONNECTION_UPDATE events)' });
    }
    const qrcode = await newQrCode();
    if (instance.state === 'open') return qrcode;
    const number = instance.number ?? this.newNumber();
    const wuid = jidOf(number);
    const holder = this.instances.ownerOf(wuid);
    if (holder && holder.id !== instance.id) throw new NumberTakenError({ integration: instance.integration, number }, wuid);
    const connecting = await this.instances.update(instance, { state: 'connecting', number });
    await this.instances.emit(connecting, { event: 'QRCODE_UPDATED', data: { qrcode: { instance: instance.name, ...qrcode } } });
    // The check above saw this node's memory: another node, or a request answered meanwhile, may have given the number away since.
    const open = await this.instances
      .update(connecting, { state: 'open', ownerJid: wuid, profileName: instance.name })
      .catch((error: unknown) => this.endConnect(connecting, error));
    await this.instances.emit(open, {
      event: 'CONNECTION_UPDATE',
      data: { instance: instance.name, state: 'open', statusReason: 200, wuid, profileName: instance.name },
    });
    // Linking again brings the number's history, as WhatsApp does: the messages its log still holds.
    const history = historySync(await messageRecords(this.store, open));
    if (history.length) await this.instances.emitMany(open, history);
    return qrcode;
  }

  /**
   * Ends a connect that could not open its instance as a client sees a connection end: closed, and a
   * CONNECTION_UPDATE saying so after its QRCODE_UPDATED. A number another instance holds is refused
   * (NumberTakenError, from the update) as the check of this node's memory refuses it: forbidden, a
   * close Evolution API does not reconnect after, so STATUS_INSTANCE (`closed`) comes before, as it sends it.
   */
  private async endConnect(connecting: Instance, error: unknown): Promise<never> {
    const closed = await this.instances.update(connecting, { state: 'close' });
    const forbidden = error instanceof NumberTakenError;
    const statusReason = forbidden ? CLOSED_FORBIDDEN : CLOSED_FAILED;
    const connection = { event: 'CONNECTION_UPDATE' as const, data: { instance: connecting.name, state: 'close', statusReason } };
    const status = { event: 'STATUS_INSTANCE' as const, data: sessionClosed(connecting.name, CLOSED_FORBIDDEN, 'Connection Failure') };
    await this.instances.emitMany(closed, forbidden ? [status, connection] : [connection]);
    throw error;
  }

  /**
   * `POST /instance/restart`: the number drops its connection and reconnects at once, as Baileys does
   * when Evolution API restarts it (CONNECTION_UPDATE `connecting`, then `open`).
   */
  async restart(instance: Instance): Promise<Instance> {
    const wuid = this.requireOpen(instance, 'be restarted by Pombo (its producer reports its connection)');
    const connecting = await this.instances.update(instance, { state: 'connecting' });
    await this.instances.emit(connecting, { event: 'CONNECTION_UPDATE', data: { instance: instance.name, state: 'connecting', statusReason: 200 } });
    const open = await this.instances.update(connecting, { state: 'open' });
    await this.instances.emit(open, {
      event: 'CONNECTION_UPDATE',
      data: { instance: instance.name, state: 'open', statusReason: 200, wuid, profileName: open.profileName ?? instance.name },
    });
    return open;
  }

  /** `POST /message/sendText`: SEND_MESSAGE on the sender, MESSAGES_UPSERT on a sandbox recipient, then receipts. */
  async sendText(sender: Instance, number: string, text: string): Promise<SentMessage> {
    return this.sendMessage(sender, number, { conversation: text }, 'conversation');
  }

  /**
   * `POST /message/sendMedia`: like a text, with an `<type>Message` that references the media (its URL,
   * or the `fileSha256` of bytes kept in the media store) and never carries the bytes themselves.
   */
  async sendMedia(sender: Instance, number: string, media: MediaMessage): Promise<SentMessage> {
    this.requireOpen(sender, 'send messages');
    const type = `${media.mediatype}Message`;
    const part: Record<string, unknown> = { mimetype: media.mimetype ?? DEFAULT_MIMETYPE[media.mediatype] };
    if (/^https?:\/\//i.test(media.media)) part.url = media.media;
    else {
      const bytes = decodeBase64(media.media);
      part.fileSha256 = await this.media.save(bytes);
      part.fileLength = bytes.length;
    }
    if (media.caption !== undefined && media.mediatype !== 'audio') part.caption = media.caption;
    if (media.fileName !== undefined) part.fileName = media.fileName;
    return this.sendMessage(sender, number, { [type]: part }, type);
  }

  private async sendMessage(sender: Instance, number: string, message: Record<string, unknown>, messageType: string): Promise<SentMessage> {
    const senderJid = this.requireOpen(sender, 'send messages');
    const remoteJid = jidOf(number);
    const id = messageId();
    const messageTimestamp = nowSeconds();
    const sent: SentMessage = {
      key: { remoteJid, fromMe: true, id },
      pushName: sender.profileName ?? sender.name,
      status: 'PENDING',
      message,
      messageType,
      messageTimestamp,
      instanceId: sender.id,
      source: 'sandbox',
    };
    if (remoteJid.endsWith(GROUP_SUFFIX)) {
      await this.sendToGroup(sender, senderJid, await this.memberGroup(sender, senderJid, remoteJid), sent);
      return sent;
    }
    await this.instances.emit(sender, { event: 'SEND_MESSAGE', data: sent });
    const recipient = this.connectedByJid(remoteJid);
    if (recipient) {
      await this.instances.emit(recipient, {
        event: 'MESSAGES_UPSERT',
        data: { ...sent, key: { remoteJid: senderJid, fromMe: false, id }, status: 'DELIVERY_ACK', instanceId: recipient.id },
      });
      const receipt = (status: string) => ({
        event: 'MESSAGES_UPDATE' as const,
        data: { keyId: id, remoteJid, fromMe: true, participant: null, status, instanceId: sender.id, messageId: id },
      });
      await this.instances.emitMany(sender, [receipt('DELIVERY_ACK'), receipt('READ')]);
    }
    return sent;
  }

  /**
   * A message to a group: SEND_MESSAGE on the sender, then MESSAGES_UPSERT on every other member that is
   * a connected sandbox instance, with the group as `remoteJid` and the sender as `participant` (as
   * Baileys reports group messages), and one DELIVERY_ACK on the sender once a member got it.
   */
  private async sendToGroup(sender: Instance, senderJid: string, group: Group, sent: SentMessage): Promise<void> {
    await this.instances.emit(sender, { event: 'SEND_MESSAGE', data: sent });
    let delivered = false;
    await this.tellMembers(group, [], async (member) => {
      if (member.id === sender.id) return;
      delivered = true;
      await this.instances.emit(member, {
        event: 'MESSAGES_UPSERT',
        data: { ...sent, key: { remoteJid: group.id, fromMe: false, id: sent.key.id, participant: senderJid }, status: 'DELIVERY_ACK', instanceId: member.id },
      });
    });
    if (!delivered) return;
    await this.instances.emit(sender, {
      event: 'MESSAGES_UPDATE',
      data: { keyId: sent.key.id, remoteJid: group.id, fromMe: true, participant: null, status: 'DELIVERY_ACK', instanceId: sender.id, messageId: sent.key.id },
    });
  }

  /** The group `groupJid` if the instance belongs to it; a 400 naming both otherwise. */
  private async memberGroup(instance: Instance, jid: string, groupJid: string): Promise<Group> {
    const group = this.groups.get(groupJid) ?? (await this.restoredGroup(instance, groupJid));
    if (!group || !group.participants.has(jid)) {
      throw validationError(`groupJid "${excerpt(groupJid)}" is not a group "${instance.name}" belongs to`);
    }
    return group;
  }

  /**
   * A group this process does not hold (it was created before a restart), as the instance's log tells
   * it: the sandbox keeps its groups in memory, the log keeps what every member was told.
   */
  private async restoredGroup(instance: Instance, groupJid: string): Promise<Group | undefined> {
    const known = (await groupList(this.store, instance)).find((group) => group.id === groupJid);
    // Groups go with the instance that created them: one whose creator was deleted is not brought back.
    const creatorId = known?.owner ? this.instances.ownerOf(known.owner)?.id : undefined;
    if (!known?.owner || creatorId === undefined) return undefined;
    const group: Group = {
      id: known.id,
      creatorId,
      subject: known.subject,
      owner: known.owner,
      creation: known.creation ?? nowSeconds(),
      participants: new Set(known.participants.map((p) => p.id)),
      admins: new Set(known.participants.filter((p) => p.admin === 'admin' && p.id !== known.owner).map((p) => p.id)),
    };
    this.groups.set(group.id, group);
    this.groupsByCreator.set(creatorId, (this.groupsByCreator.get(creatorId) ?? new Set<string>()).add(group.id));
    return group;
  }

  /**
   * `POST /instance/setPresence`: the instance's own presence, checked as Evolution API takes it. Nothing
   * is emitted: as with Baileys, an instance's PRESENCE_UPDATE events are its contacts' presences (the
   * sandbox sends one on `/chat/sendPresence`), never its own.
   */
  setPresence(instance: Instance): void {
    this.requireOpen(instance, 'set its presence');
  }

  /** `POST /chat/sendPresence`: the recipient sees PRESENCE_UPDATE for the sender. */
  async sendPresence(sender: Instance, number: string, presence: string): Promise<void> {
    const senderJid = this.requireOpen(sender, 'send presence');
    const recipient = this.connectedByJid(jidOf(number));
    if (!recipient) return;
    await this.instances.emit(recipient, {
      event: 'PRESENCE_UPDATE',
      data: { id: senderJid, presences: { [senderJid]: { lastKnownPresence: presence } } },
    });
  }

  /** `POST /group/create`: GROUPS_UPSERT on the creator and every sandbox participant. */
  async createGroup(creator: Instance, subject: string, numbers: string[]): Promise<Record<string, unknown>> {
    const owner = this.requireOpen(creator, 'create groups');
    if (this.groupCount(creator) >= this.limits.maxGroups) {
      throw new PomboError('POMBO_ERR_LIMIT_REACHED', { what: `"${creator.name}" has created ${this.groupCount(creator)} groups`, limit: this.limits.maxGroups, variable: 'SANDBOX_MAX_GROUPS' });
    }
    const participants = new Set([owner, ...numbers.map(jidOf)]);
    this.checkSize(participants.size);
    const group: Group = {
      id: `120363${randomInt(100_000_000, 999_999_999)}${randomInt(100_000, 999_999)}${GROUP_SUFFIX}`,
      creatorId: creator.id,
      subject,
      owner,
      creation: nowSeconds(),
      participants,
      admins: new Set(),
    };
    this.groups.set(group.id, group);
    const created = this.groupsByCreator.get(creator.id) ?? new Set<string>();
    created.add(group.id);
    this.groupsByCreator.set(creator.id, created);
    const metadata = this.metadata(group);
    await this.tellMembers(group, [], async (member) => {
      await this.instances.emit(member, { event: 'GROUPS_UPSERT', data: [metadata] });
    });
    return metadata;
  }

  /** `POST /group/updateParticipant`: GROUP_PARTICIPANTS_UPDATE on every sandbox member, old and new. */
  async updateParticipants(actor: Instance, groupJid: string, action: string, numbers: string[]): Promise<Record<string, unknown>> {
    const author = this.requireOpen(actor, 'manage groups');
    const group = await this.memberGroup(actor, author, groupJid);
    // As WhatsApp: only the owner and admins change the members, and nobody removes or demotes the owner.
    if (author !== group.owner && !group.admins.has(author)) throw new PomboError('POMBO_ERR_NOT_GROUP_ADMIN', { instance: actor.name, group: group.id });
    const participants = numbers.map(jidOf);
    if ((action === 'remove' || action === 'demote') && participants.includes(group.owner)) {
      throw validationError(`the group's owner (${group.owner}) cannot be removed or demoted`);
    }
    const before = [...group.participants];
    if (action === 'add') this.checkSize(new Set([...group.participants, ...participants]).size);
    const joined = action === 'add' ? participants.filter((jid) => !group.participants.has(jid)) : [];
    for (const jid of participants) {
      if (action === 'add') group.participants.add(jid);
      if (action === 'remove') group.participants.delete(jid);
      if (action === 'promote' && group.participants.has(jid)) group.admins.add(jid);
      if (action === 'remove' || action === 'demote') group.admins.delete(jid);
    }
    // A number added to a group sees the group appear (GROUPS_UPSERT) before the change itself.
    const metadata = this.metadata(group);
    for (const jid of joined) {
      const member = this.connectedByJid(jid);
      if (member) await this.instances.emit(member, { event: 'GROUPS_UPSERT', data: [metadata] });
    }
    const data = { id: group.id, author, participants, action };
    await this.tellMembers(group, before, async (member) => {
      await this.instances.emit(member, { event: 'GROUP_PARTICIPANTS_UPDATE', data });
    });
    return { updateParticipants: participants.map((jid) => ({ status: '200', jid })) };
  }

  private checkSize(size: number): void {
    if (size > this.limits.maxParticipants) {
      throw validationError(`a group has at most ${this.limits.maxParticipants} participants, its creator included (SANDBOX_GROUP_MAX_PARTICIPANTS); this one would have ${size}`);
    }
  }

  private metadata(group: Group): Record<string, unknown> {
    return {
      id: group.id,
      subject: group.subject,
      owner: group.owner,
      creation: group.creation,
      size: group.participants.size,
      participants: [...group.participants].map((id) => ({ id, admin: id === group.owner ? 'superadmin' : group.admins.has(id) ? 'admin' : null })),
    };
  }

  private async tellMembers(group: Group, extra: string[], tell: (member: Instance) => Promise<void>): Promise<void> {
    const members = new Set<Instance>();
    for (const jid of new Set([...group.participants, ...extra])) {
      const member = this.connectedByJid(jid);
      if (member) members.add(member);
    }
    // Told together: their events share the store's commits instead of waiting one after another.
    await Promise.all([...members].map(tell));
  }
}
