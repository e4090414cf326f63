import { checkClientOptions, type PomboClientOptions } from './client-options.ts';
import { EventsApi } from './events/events-api.ts';
import { ChannelConfigApi, type EventsConfig, type RealtimeConfig, type WebhookConfig } from './rest/channel-config.ts';
import { ChatsApi, SettingsApi } from './rest/chats.ts';
import { DEFAULT_TIMEOUT_MS, Http } from './rest/http.ts';
import { InstancesApi, MessagesApi } from './rest/instances.ts';
import { verifyWebhook, type HeaderBag, type VerifyOptions } from './webhooks/verify.ts';

/** Pombo's API: instances, channel configuration, realtime events and webhook verification. */
export class PomboClient {
  readonly instances: InstancesApi;
  readonly messages: MessagesApi;
  readonly chats: ChatsApi;
  readonly settings: SettingsApi;
  readonly events: EventsApi;
  readonly webhooks = { verify: (body: string | Uint8Array, headers: HeaderBag, secret: string, options?: VerifyOptions) => verifyWebhook(body, headers, secret, options) };
  /** `find` answers null for an instance whose webhook was never set, as Evolution API does (so do the channels below). */
  readonly webhook: ChannelConfigApi<WebhookConfig, Record<string, unknown> | null>;
  readonly websocket: ChannelConfigApi<EventsConfig, Record<string, unknown> | null>;
  readonly rabbitmq: ChannelConfigApi<EventsConfig, Record<string, unknown> | null>;
  readonly sqs: ChannelConfigApi<EventsConfig, Record<string, unknown> | null>;
  readonly kafka: ChannelConfigApi<EventsConfig, Record<string, unknown> | null>;
  readonly nats: ChannelConfigApi<EventsConfig, Record<string, unknown> | null>;
  readonly pusher: ChannelConfigApi<EventsConfig, Record<string, unknown> | null>;
  readonly realtime: ChannelConfigApi<RealtimeConfig>;

  /** Throws a `PomboOptionError` (a TypeError) when an option is missing or wrong. */
  constructor(options: PomboClientOptions) {
    checkClientOptions(options);
    const http = new Http({ baseUrl: options.baseUrl, apiKey: options.apiKey, fetch: options.fetch ?? globalThis.fetch.bind(globalThis), timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
    this.instances = new InstancesApi(http);
    this.messages = new MessagesApi(http);
    this.chats = new ChatsApi(http);
    this.settings = new SettingsApi(http);
    this.events = new EventsApi(http, options.baseUrl, options.apiKey, options.transport);
    this.webhook = new ChannelConfigApi(http, 'webhook');
    this.websocket = new ChannelConfigApi(http, 'websocket');
    this.rabbitmq = new ChannelConfigApi(http, 'rabbitmq');
    this.sqs = new ChannelConfigApi(http, 'sqs');
    this.kafka = new ChannelConfigApi(http, 'kafka');
    this.nats = new ChannelConfigApi(http, 'nats');
    this.pusher = new ChannelConfigApi(http, 'pusher');
    this.realtime = new ChannelConfigApi(http, 'realtime');
  }
}
