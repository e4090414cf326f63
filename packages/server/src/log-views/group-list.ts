import { isObject, type Obj } from '../core/validate.ts';
import type { Instance, Store } from '../store/types.ts';
import { scanInstanceLog } from './instance-log.ts';

export interface GroupParticipant {
  id: string;
  admin: 'superadmin' | 'admin' | null;
}

/** A group as Evolution API's `GET /group/fetchAllGroups` lists it (Baileys' GroupMetadata). */
export interface GroupView {
  id: string;
  subject: string;
  subjectOwner: string | null;
  subjectTime: number | null;
  pictureUrl: string | null;
  size: number;
  creation: number | null;
  owner: string | null;
  desc: string | null;
  descId: string | null;
  restrict: boolean;
  announce: boolean;
  participants: GroupParticipant[];
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);

function participantsOf(value: unknown): GroupParticipant[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item) => {
    const id = isObject(item) ? str(item.id) : str(item);
    if (!id) return [];
    const admin = isObject(item) && (item.admin === 'superadmin' || item.admin === 'admin') ? item.admin : null;
    return [{ id, admin }];
  });
}

function upsert(groups: Map<string, GroupView>, item: Obj): void {
  const id = str(item.id);
  if (!id) return;
  const known = groups.get(id);
  const participants = item.participants === undefined && known ? known.participants : participantsOf(item.participants);
  groups.set(id, {
    id,
    subject: str(item.subject) ?? known?.subject ?? '',
    subjectOwner: str(item.subjectOwner) ?? known?.subjectOwner ?? str(item.owner),
    subjectTime: num(item.subjectTime) ?? known?.subjectTime ?? num(item.creation),
    pictureUrl: str(item.pictureUrl) ?? known?.pictureUrl ?? null,
    size: participants.length,
    creation: num(item.creation) ?? known?.creation ?? null,
    owner: str(item.owner) ?? known?.owner ?? null,
    desc: str(item.desc) ?? known?.desc ?? null,
    descId: str(item.descId) ?? known?.descId ?? null,
    restrict: typeof item.restrict === 'boolean' ? item.restrict : (known?.restrict ?? false),
    announce: typeof item.announce === 'boolean' ? item.announce : (known?.announce ?? false),
    participants,
  });
}

/** GROUP_PARTICIPANTS_UPDATE `{id, participants, action}` applied to what the log said of the group. */
function changeParticipants(groups: Map<string, GroupView>, change: Obj): void {
  const group = groups.get(str(change.id) ?? '');
  if (!group) return;
  const jids = participantsOf(change.participants).map((p) => p.id);
  const byId = new Map(group.participants.map((p) => [p.id, p]));
  for (const jid of jids) {
    if (change.action === 'add') byId.set(jid, byId.get(jid) ?? { id: jid, admin: null });
    if (change.action === 'remove') byId.delete(jid);
    const member = byId.get(jid);
    if (member && change.action === 'promote') member.admin = 'admin';
    if (member && change.action === 'demote') member.admin = null;
  }
  group.participants = [...byId.values()];
  group.size = group.participants.length;
}

/**
 * The groups an instance is in, as its retained log tells them: GROUPS_UPSERT and GROUPS_UPDATE
 * describe them, GROUP_PARTICIPANTS_UPDATE changes their members. A group the instance's number has
 * left is not listed (an instance whose number is unknown lists every group it heard of).
 */
export async function groupList(store: Store, instance: Instance): Promise<GroupView[]> {
  const groups = new Map<string, GroupView>();
  await scanInstanceLog(store, instance, ['GROUPS_UPSERT', 'GROUPS_UPDATE', 'GROUP_PARTICIPANTS_UPDATE'], (event) => {
    const items = Array.isArray(event.data) ? event.data : [event.data];
    for (const item of items) {
      if (!isObject(item)) continue;
      if (event.event === 'GROUP_PARTICIPANTS_UPDATE') changeParticipants(groups, item);
      else upsert(groups, item);
    }
  });
  const me = instance.ownerJid;
  return [...groups.values()].filter((group) => !me || group.participants.some((p) => p.id === me));
}
