import { type CallOptions, type Http, segment } from './http.ts';

/** A message as `findMessages` lists it: Evolution API's record, `id` being the event's. */
export interface MessageRecord {
  id: string;
  key: { remoteJid?: string; fromMe?: boolean; id?: string; participant?: string };
  pushName: string | null;
  messageType: string | null;
  message: unknown;
  messageTimestamp: number;
  instanceId: string;
  source: string | null;
  contextInfo: unknown;
  MessageUpdate: { status: string }[];
}

export interface FindMessagesRequest {
  where?: {
    key?: { id?: string; remoteJid?: string; participant?: string; fromMe?: boolean };
    id?: string;
    messageType?: string;
    source?: string;
    messageTimestamp?: { gte?: string | number; lte?: string | number };
  };
  /** Messages per page (Evolution API's name), 1 to 1000; default 50. */
  offset?: number;
  page?: number;
}

export interface Chat {
  id: string;
  remoteJid: string;
  pushName: string | null;
  profilePicUrl: string | null;
  updatedAt: string;
  lastMessage: MessageRecord;
  unreadCount: number;
  [field: string]: unknown;
}

export interface Group {
  id: string;
  subject: string;
  owner: string | null;
  size: number;
  creation: number | null;
  participants?: { id: string; admin: 'superadmin' | 'admin' | null }[];
  [field: string]: unknown;
}

export interface InstanceSettings {
  rejectCall: boolean;
  msgCall: string;
  groupsIgnore: boolean;
  alwaysOnline: boolean;
  readMessages: boolean;
  readStatus: boolean;
  syncFullHistory: boolean;
  wavoipToken: string;
}

/** Evolution API's read routes, answered from the instance's retained log: messages, chats and groups. */
export class ChatsApi {
  constructor(private readonly http: Http) {}

  findMessages(instanceName: string, request: FindMessagesRequest = {}, call?: CallOptions): Promise<{ messages: { total: number; pages: number; currentPage: number; records: MessageRecord[] } }> {
    return this.http.request('POST', `/chat/findMessages/${segment(instanceName)}`, request, call);
  }

  findChats(instanceName: string, request: { where?: { remoteJid?: string }; skip?: number; take?: number } = {}, call?: CallOptions): Promise<Chat[]> {
    return this.http.request('POST', `/chat/findChats/${segment(instanceName)}`, request, call);
  }

  fetchAllGroups(instanceName: string, options: { getParticipants?: boolean } = {}, call?: CallOptions): Promise<Group[]> {
    return this.http.request('GET', `/group/fetchAllGroups/${segment(instanceName)}?getParticipants=${options.getParticipants === true}`, undefined, call);
  }
}

/** `/settings/*`: Evolution API's instance settings. */
export class SettingsApi {
  constructor(private readonly http: Http) {}

  find(instanceName: string, call?: CallOptions): Promise<InstanceSettings> {
    return this.http.request('GET', `/settings/find/${segment(instanceName)}`, undefined, call);
  }

  /** Changes the fields given; the others keep their value. */
  set(instanceName: string, settings: Partial<InstanceSettings>, call?: CallOptions): Promise<{ settings: { instanceName: string; instanceId: string; settings: InstanceSettings } }> {
    return this.http.request('POST', `/settings/set/${segment(instanceName)}`, settings, call);
  }
}
