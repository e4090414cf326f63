/** Pombo's TypeScript SDK: realtime subscriptions with acknowledgements, webhook verification, REST helpers. */
import './dispose.ts';

export { PomboClient } from './client.ts';
export type { PomboClientOptions } from './client-options.ts';
export { PomboApiError, PomboGapError, PomboOptionError, PomboRealtimeError, PomboTimeoutError, WebhookVerificationError, type GapData } from './errors.ts';
export { EVENT_TYPES, LIFECYCLE_EVENTS, OTHER_EVENT_TYPES } from './events/event.ts';
export { EVENT_ALIASES, EVENT_FILTER_NAMES, EVENT_KEYS } from './events/event-names.ts';
export type { DottedEventName, EventAlias, EventFilterName, EventKey, KebabEventName } from './events/event-names.ts';
export type { CloseHandler, Envelope, ErrorHandler, EventHandler, EventType, LifecycleEvent, OpenHandler, OtherEventType, PomboEvent } from './events/event.ts';
export { EventSubscription, type SubscribeRequest } from './events/subscription.ts';
export type { EventInput, PublishedEvent } from './events/events-api.ts';
export type { Liveness, SocketLike, Transport } from './events/transport.ts';
export type { CallOptions } from './rest/http.ts';
export type { EventsConfig, RealtimeConfig, WebhookConfig } from './rest/channel-config.ts';
export type { CreateInstanceRequest, CreatedInstance, InstanceView, QrCode } from './rest/instances.ts';
export type { Chat, FindMessagesRequest, Group, InstanceSettings, MessageRecord } from './rest/chats.ts';
export { verifyWebhook, type HeaderBag, type VerifyOptions } from './webhooks/verify.ts';
