import { isObject, type Obj } from '../core/validate.ts';
import type { Instance, Store, StoredEvent } from '../store/types.ts';
import { scanInstanceLog } from './instance-log.ts';

/** A message's key, as Baileys and Evolution API give it. */
export interface MessageKey {
  remoteJid?: string;
  fromMe?: boolean;
  id?: string;
  participant?: string;
}

/** One message as Evolution API's `POST /chat/findMessages` lists it (its `Message` row), `id` being the event's. */
export interface MessageRecord {
  id: string;
  key: MessageKey;
  pushName: string | null;
  messageType: string | null;
  message: unknown;
  messageTimestamp: number;
  instanceId: string;
  source: string | null;
  contextInfo: unknown;
  MessageUpdate: { status: string }[];
}

/** Seconds; Baileys sometimes gives them as a string or as `{low, high}`. */
function seconds(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  if (isObject(value) && typeof value.low === 'number') return value.low >>> 0;
  return 0;
}

function recordOf(event: StoredEvent, data: Obj): MessageRecord | undefined {
  if (!isObject(data.key)) return undefined;
  return {
    id: event.id,
    key: data.key as MessageKey,
    pushName: typeof data.pushName === 'string' ? data.pushName : null,
    messageType: typeof data.messageType === 'string' ? data.messageType : null,
    message: data.message ?? null,
    messageTimestamp: seconds(data.messageTimestamp),
    instanceId: event.instanceId,
    source: typeof data.source === 'string' ? data.source : null,
    contextInfo: data.contextInfo ?? null,
    MessageUpdate: [],
  };
}

const identity = (key: MessageKey): string => `${key.remoteJid ?? ''}|${key.fromMe === true}|${key.id ?? ''}`;

/**
 * Every message of an instance's retained log: those it received (MESSAGES_UPSERT), sent
 * (SEND_MESSAGE) or got from a history sync (MESSAGES_SET), once each (the latest copy wins), with
 * the statuses MESSAGES_UPDATE reported for it; newest first.
 */
export async function messageRecords(store: Store, instance: Instance): Promise<MessageRecord[]> {
  const byKey = new Map<string, MessageRecord>();
  const statuses = new Map<string, { status: string }[]>();
  await scanInstanceLog(store, instance, ['MESSAGES_SET', 'MESSAGES_UPSERT', 'SEND_MESSAGE', 'MESSAGES_UPDATE'], (event) => {
    const data = event.data;
    if (event.event === 'MESSAGES_UPDATE') {
      for (const update of Array.isArray(data) ? data : [data]) {
        if (!isObject(update) || typeof update.keyId !== 'string' || typeof update.status !== 'string') continue;
        const list = statuses.get(update.keyId) ?? [];
        list.push({ status: update.status });
        statuses.set(update.keyId, list);
      }
      return;
    }
    for (const item of Array.isArray(data) ? data : [data]) {
      const record = isObject(item) ? recordOf(event, item) : undefined;
      if (!record) continue;
      const key = identity(record.key);
      byKey.delete(key); // the latest copy takes the latest place
      byKey.set(key, record);
    }
  });
  const records = [...byKey.values()];
  for (const record of records) record.MessageUpdate = statuses.get(record.key.id ?? '') ?? [];
  // Newest first by WhatsApp's time; among equal times, the later in the log first.
  return records.reverse().sort((a, b) => b.messageTimestamp - a.messageTimestamp);
}
