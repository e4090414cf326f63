import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import type { RabbitMqSettings } from '../../config/rabbitmq-settings.ts';

/** AMQP's reply code when a queue or exchange exists with other arguments. */
const PRECONDITION_FAILED = 406;

const codeOf = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

/**
 * Declares the exchange, and a durable queue bound to each routing key, once per connection: the
 * first publish of a routing key waits for its declaration, later ones find it cached. Declarations
 * use their own channel, because a refused one closes its channel and must not take the publishing
 * channel (and its unconfirmed messages) down with it.
 */
export class RabbitMqTopology {
  private readonly declared = new Map<string, Promise<void>>();
  private channel: Promise<Channel> | undefined;

  constructor(
    private readonly connection: ChannelModel,
    private readonly settings: RabbitMqSettings,
    private readonly log: Logger,
  ) {}

  /** Resolves once the exchange and the queues of these routing keys exist. */
  async ensure(routingKeys: Iterable<string>): Promise<void> {
    await this.once('', () => this.declareExchange());
    if (!this.settings.declareQueues) return;
    for (const key of new Set(routingKeys)) await this.once(key, () => this.declareQueue(key));
  }

  private once(key: string, declare: () => Promise<void>): Promise<void> {
    let done = this.declared.get(key);
    if (!done) {
      done = declare();
      this.declared.set(key, done);
      done.catch(() => this.declared.delete(key));
    }
    return done;
  }

  private open(): Promise<Channel> {
    if (!this.channel) {
      const opening = this.connection.createChannel();
      this.channel = opening;
      opening.then(
        (channel) => {
          // A refused declaration closes the channel; the promise that asked gets the error.
          channel.on('error', () => undefined);
          channel.on('close', () => {
            if (this.channel === opening) this.channel = undefined;
          });
        },
        () => {
          if (this.channel === opening) this.channel = undefined;
        },
      );
    }
    return this.channel;
  }

  private async declareExchange(): Promise<void> {
    await (await this.open()).assertExchange(this.settings.exchange, 'topic', { durable: true });
  }

  private async declareQueue(name: string): Promise<void> {
    // Classic is the default type: naming it would make queues declared before without it "inequivalent".
    const args: Record<string, unknown> = this.settings.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
    if (this.settings.queueMaxLength !== undefined) args['x-max-length'] = this.settings.queueMaxLength;
    try {
      await (await this.open()).assertQueue(name, { durable: true, arguments: args });
    } catch (error) {
      if (codeOf(error) !== PRECONDITION_FAILED) throw error;
      this.channel = undefined; // the broker closed it
      // The queue exists with other arguments (an older RABBITMQ_QUEUE_MAX_LENGTH, say): use it as it is.
      await (await this.open()).checkQueue(name);
      this.log.warn({ queue: name, error: (error as Error).message }, 'the queue exists with other arguments; publishing to it as it is');
    }
    await (await this.open()).bindQueue(name, this.settings.exchange, name);
  }
}
