import { type CallOptions, type Http, segment } from './http.ts';

/** Names as the server accepts them: `MESSAGES_UPSERT`, `messages.upsert` or `messages-upsert`. */
type EventNames = string[];

export interface WebhookConfig {
  enabled?: boolean;
  url?: string;
  events?: EventNames;
  headers?: Record<string, string>;
  byEvents?: boolean;
  base64?: boolean;
  /** A Standard Webhooks secret (`whsec_…`): requests are then signed (verify with `client.webhooks.verify`). */
  secret?: string;
  ordering?: 'none' | 'instance' | 'chat';
  [option: string]: unknown;
}

export interface EventsConfig {
  enabled?: boolean;
  events?: EventNames;
  [option: string]: unknown;
}

export interface RealtimeConfig {
  /** What a realtime connection gets when it names no events (`Message`, `MESSAGES_UPSERT`, …). */
  events?: string[];
}

/** `POST /<channel>/set/:instanceName` and `GET /<channel>/find/:instanceName` of one channel; `Found` is what `find` answers. */
export class ChannelConfigApi<Config, Found = Record<string, unknown>> {
  constructor(
    private readonly http: Http,
    private readonly channel: string,
  ) {}

  /** Replaces the instance's configuration of this channel; answers what `find` answers. */
  set(instanceName: string, config: Config, call?: CallOptions): Promise<Record<string, unknown>> {
    return this.http.request('POST', `/${this.channel}/set/${segment(instanceName)}`, { [this.channel]: config }, call);
  }

  /** The configuration (secrets masked) and live state of this channel for the instance (null when it was never set, except realtime's). */
  find(instanceName: string, call?: CallOptions): Promise<Found> {
    return this.http.request('GET', `/${this.channel}/find/${segment(instanceName)}`, undefined, call);
  }
}
