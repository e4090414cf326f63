import { EventsApi } from './events/events-api.ts';
import type { Transport } from './events/transport.ts';
import { ChannelConfigApi, type EventsConfig, type RealtimeConfig, type WebhookConfig } from './rest/channel-config.ts';
import { ChatsApi, SettingsApi } from './rest/chats.ts';
import { DEFAULT_TIMEOUT_MS, Http } from './rest/http.ts';
import { InstancesApi, MessagesApi } from './rest/instances.ts';
import { verifyWebhook, type HeaderBag, type VerifyOptions } from './webhooks/verify.ts';

export interface PomboClientOptions {
  /** Where Pombo listens, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /** The global API key, or an instance token (then only that instance is reachable). */
  apiKey?: string;
  /** How long a REST call may take, its answer's body included, before it rejects with a `PomboTimeoutError`. `0`: no limit. Default 30 s. */
  timeoutMs?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** A WebSocket factory (default: `ws` in Node when installed, else the global WebSocket). */
  transport?: Transport;
}

/** Pombo's API: instances, channel configuration, realtime events and webhook verification. */
export class PomboClient {
  readonly instances: InstancesApi;
  readonly messages: MessagesApi;
  readonly chats: ChatsApi;
  readonly settings: SettingsApi;
  readonly events: EventsApi;
  readonly webhooks = { verify: (body: string | Uint8Array, headers: HeaderBag, secret: string, options?: VerifyOptions) => verifyWebhook(body, headers, secret, options) };
  /** `find` answers null for an instance whose webhook was never set, as Evolution API does. */
  readonly webhook: ChannelConfigApi<WebhookConfig, Record<string, unknown> | null>;
  readonly websocket: ChannelConfigApi<EventsConfig>;
  readonly rabbitmq: ChannelConfigApi<EventsConfig>;
  readonly sqs: ChannelConfigApi<EventsConfig>;
  readonly kafka: ChannelConfigApi<EventsConfig>;
  readonly nats: ChannelConfigApi<EventsConfig>;
  readonly pusher: ChannelConfigApi<EventsConfig>;
  readonly realtime: ChannelConfigApi<RealtimeConfig>;

  constructor(options: PomboClientOptions) {
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
