import type { AppContext } from '../app-context.ts';
import type { ChannelModule } from './channel.ts';
import { kafkaChannel } from './kafka/kafka-channel.ts';
import { natsChannel } from './nats/nats-channel.ts';
import { pusherChannel } from './pusher/pusher-channel.ts';
import { rabbitmqChannel } from './rabbitmq/rabbitmq-channel.ts';
import { realtimeChannel } from './realtime/realtime-channel.ts';
import { sqsChannel } from './sqs/sqs-channel.ts';
import { socketioChannel } from './socketio/socketio-channel.ts';
import { webhookChannel } from './webhook/webhook-channel.ts';

/**
 * Every channel Pombo knows. Each factory returns its module, or undefined when the channel is
 * disabled by the environment (a broker's client library is then never loaded).
 */
export const CHANNELS: ReadonlyArray<(context: AppContext) => ChannelModule | Promise<ChannelModule> | undefined> = [
  webhookChannel,
  socketioChannel,
  rabbitmqChannel,
  natsChannel,
  kafkaChannel,
  sqsChannel,
  pusherChannel,
  realtimeChannel,
];
