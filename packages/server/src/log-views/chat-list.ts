import type { MessageRecord } from './message-records.ts';

/** A chat as Evolution API's `POST /chat/findChats` lists it. */
export interface ChatView {
  id: string;
  remoteJid: string;
  pushName: string | null;
  profilePicUrl: string | null;
  updatedAt: string;
  windowStart: null;
  windowExpires: null;
  windowActive: boolean;
  lastMessage: MessageRecord;
  unreadCount: number;
  isSaved: boolean;
}

/**
 * The chats of an instance, newest first, from its messages (newest first, as messageRecords gives
 * them): the last message, the name the other side goes by (a group's subject, from `names`), and
 * how many messages arrived since the instance last wrote in the chat.
 */
export function chatList(records: readonly MessageRecord[], names: ReadonlyMap<string, string>): ChatView[] {
  const chats = new Map<string, ChatView>();
  const answered = new Set<string>();
  for (const record of records) {
    const remoteJid = record.key.remoteJid;
    if (!remoteJid) continue;
    let chat = chats.get(remoteJid);
    if (!chat) {
      chat = {
        id: remoteJid,
        remoteJid,
        pushName: names.get(remoteJid) ?? null,
        profilePicUrl: null,
        updatedAt: new Date(record.messageTimestamp * 1000).toISOString(),
        windowStart: null,
        windowExpires: null,
        windowActive: false,
        lastMessage: record,
        unreadCount: 0,
        isSaved: false,
      };
      chats.set(remoteJid, chat);
    }
    if (record.key.fromMe) answered.add(remoteJid);
    else {
      if (!answered.has(remoteJid)) chat.unreadCount += 1;
      // In a chat with one person, the newest name they sent is theirs; a group keeps its subject.
      if (chat.pushName === null && !remoteJid.endsWith('@g.us')) chat.pushName = record.pushName;
    }
  }
  return [...chats.values()];
}
