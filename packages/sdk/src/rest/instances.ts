import { type CallOptions, type Http, segment } from './http.ts';

/** Pombo's sources and Evolution API's names for them (`WHATSAPP-BAILEYS` is served by the sandbox, the other two by ingest). */
export type Integration = 'SANDBOX' | 'INGEST' | 'WHATSAPP-BAILEYS' | 'WHATSAPP-BUSINESS' | 'EVOLUTION';
export type ConnectionState = 'open' | 'connecting' | 'close';

export interface CreateInstanceRequest {
  instanceName: string;
  /** At least 16 characters; generated when left out. */
  token?: string;
  integration?: Integration;
  number?: string;
  /** Connect a sandbox instance at once. */
  qrcode?: boolean;
  /** Channel configurations, as `POST /<channel>/set` takes them. */
  webhook?: Record<string, unknown>;
  websocket?: Record<string, unknown>;
  rabbitmq?: Record<string, unknown>;
  sqs?: Record<string, unknown>;
  kafka?: Record<string, unknown>;
  nats?: Record<string, unknown>;
  pusher?: Record<string, unknown>;
}

export interface CreatedInstance {
  instance: { instanceName: string; instanceId: string; integration: Integration; status: ConnectionState };
  /** The instance token. */
  hash: string;
  qrcode?: QrCode;
  [channel: string]: unknown;
}

export interface InstanceView {
  id: string;
  name: string;
  connectionStatus: ConnectionState;
  ownerJid: string | null;
  profileName: string | null;
  integration: Integration;
  number: string | null;
  token: string;
  createdAt: string;
}

export interface QrCode {
  pairingCode: string | null;
  code: string;
  base64: string;
  count: number;
}

export interface StatusMessage {
  status: string;
  error: boolean;
  response: { message: string };
}

/** `/instance/*`: create, list, connect, state, logout and delete instances. */
export class InstancesApi {
  constructor(private readonly http: Http) {}

  create(request: CreateInstanceRequest, call?: CallOptions): Promise<CreatedInstance> {
    return this.http.request('POST', '/instance/create', request, call);
  }

  /** Every instance the key may see, optionally only one by name or id. */
  fetch(filter: { instanceName?: string; instanceId?: string } = {}, call?: CallOptions): Promise<InstanceView[]> {
    const query = new URLSearchParams(Object.entries(filter).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    const search = query.toString();
    return this.http.request('GET', `/instance/fetchInstances${search ? `?${search}` : ''}`, undefined, call);
  }

  connect(instanceName: string, call?: CallOptions): Promise<QrCode> {
    return this.http.request('GET', `/instance/connect/${segment(instanceName)}`, undefined, call);
  }

  connectionState(instanceName: string, call?: CallOptions): Promise<{ instance: { instanceName: string; state: ConnectionState } }> {
    return this.http.request('GET', `/instance/connectionState/${segment(instanceName)}`, undefined, call);
  }

  /** Reconnects a sandbox instance (`POST /instance/restart`). */
  restart(instanceName: string, call?: CallOptions): Promise<{ instance: { instanceName: string; state: ConnectionState } }> {
    return this.http.request('POST', `/instance/restart/${segment(instanceName)}`, undefined, call);
  }

  logout(instanceName: string, call?: CallOptions): Promise<StatusMessage> {
    return this.http.request('DELETE', `/instance/logout/${segment(instanceName)}`, undefined, call);
  }

  delete(instanceName: string, call?: CallOptions): Promise<StatusMessage> {
    return this.http.request('DELETE', `/instance/delete/${segment(instanceName)}`, undefined, call);
  }
}

/** `/message/sendText`: a text message (on the sandbox network, to another sandbox number). */
export class MessagesApi {
  constructor(private readonly http: Http) {}

  sendText(instanceName: string, message: { number: string; text: string }, call?: CallOptions): Promise<Record<string, unknown>> {
    return this.http.request('POST', `/message/sendText/${segment(instanceName)}`, message, call);
  }
}
