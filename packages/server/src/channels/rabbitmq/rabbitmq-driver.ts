import { connect, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import type { Logger } from 'pino';
import { InTurn } from '../../core/in-turn.ts';
import { eventName } from '../../core/event-names.ts';
import { msOfIso } from '../../core/iso-time.ts';
import { delivered, retry, type Outcome } from '../../delivery/outcome.ts';
import { mayWrite, messageHeaders, WITHDRAWN, type BrokerDriver, type BrokerMessage, type BrokerTarget } from '../broker/broker-channel.ts';
import type { SendContext } from '../../delivery/destination.ts';
import { ConnectionKeeper } from '../broker/connection-keeper.ts';
import type { RabbitMqSettings } from '../../config/rabbitmq-settings.ts';
import { RabbitMqTopology } from './rabbitmq-topology.ts';

/** How long opening a connection (TCP, TLS and AMQP handshake) may take. */
const CONNECT_TIMEOUT_MS = 10_000;

interface Session {
  readonly connection: ChannelModel;
  /** Publishes with confirms: the broker acks each message once it is routed and, being persistent, on disk. */
  readonly channel: ConfirmChannel;
  readonly topology: RabbitMqTopology;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** `{prefix}.{instance}.{event-kebab}`, e.g. `evolution.minha-instancia.messages-upsert` (seed 001). */
export const routingKeyOf = (prefix: string, message: BrokerMessage): string =>
  `${prefix}.${message.event.instance}.${eventName(message.event.event).kebab}`;

/**
 * Publishes to a durable topic exchange over a confirm channel: persistent messages, the event id as
 * message id, one outcome per message from the broker's ack or nack. The connection is opened lazily
 * and reopened after any loss; what was not confirmed is answered `retry` and published again.
 */
export class RabbitMqDriver implements BrokerDriver {
  private readonly keeper: ConnectionKeeper<Session>;
  private blocked: string | undefined;
  /** Batches are written one after another, in the order they were handed over. */
  private readonly writing = new InTurn();

  constructor(
    private readonly settings: RabbitMqSettings,
    private readonly log: Logger,
  ) {
    this.keeper = new ConnectionKeeper({
      target: `RabbitMQ at ${settings.target}`,
      connect: () => this.open(),
      disconnect: (session) => session.connection.close(),
      log,
    });
  }

  start(): void {
    this.keeper.start();
  }

  connection() {
    const state = this.keeper.connection();
    return this.blocked ? { ...state, lastError: `RabbitMQ blocks publishers: ${this.blocked}` } : state;
  }

  private async open(): Promise<Session> {
    const connection = await connect(this.settings.uri, {
      timeout: CONNECT_TIMEOUT_MS,
      noDelay: true,
      clientProperties: { connection_name: 'pombo' },
    });
    this.blocked = undefined;
    let session: Session | undefined;
    let died: unknown;
    // Listening before any await: without an 'error' listener an emitter throws (a broker going away
    // while the channel opens must never crash Pombo), and a connection that dies before the keeper
    // takes the session must fail this attempt, not be taken dead (its loss would never be heard).
    const lost = (error: unknown) => {
      died ??= error ?? 'the connection closed';
      if (session) this.keeper.lost(session, died);
    };
    connection.on('error', lost);
    connection.on('close', lost);
    connection.on('blocked', (reason: string) => (this.blocked = reason));
    connection.on('unblocked', () => (this.blocked = undefined));
    try {
      const channel = await connection.createConfirmChannel();
      channel.on('error', lost);
      channel.on('close', () => lost('the publishing channel closed'));
      session = { connection, channel, topology: new RabbitMqTopology(connection, this.settings, this.log) };
      await session.topology.ensure([]);
      // Taken by the keeper at once (no await comes between): a close from now on is heard as a loss.
      if (died !== undefined) throw died instanceof Error ? died : new Error(String(died));
      return session;
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  async publish(batch: readonly BrokerMessage[], _destination?: BrokerTarget, sending?: SendContext): Promise<Outcome[]> {
    // A pipelined lane hands over its next batch before this one is confirmed: batches are written one
    // after another, in the order they came, while their confirms are awaited together.
    const written = await this.writing.run(() => this.write(batch, sending));
    return settleWithin(written, this.settings.publishTimeoutMs, () =>
      retry(`RabbitMQ did not confirm within ${this.settings.publishTimeoutMs} ms (RABBITMQ_PUBLISH_TIMEOUT_MS)`),
    );
  }

  /**
   * Connects and declares if needed, then writes the batch; resolves to each message's confirm. The
   * lease (`sending`) is asked again after every wait: for the connection, the batches before this
   * one, a full socket buffer.
   */
  private async write(batch: readonly BrokerMessage[], sending?: SendContext): Promise<Promise<Outcome>[]> {
    let session: Session;
    const keys = batch.map((message) => routingKeyOf(this.settings.prefix, message));
    try {
      session = await this.keeper.get();
      await session.topology.ensure(keys);
    } catch (error) {
      const reason = retry(`RabbitMQ at ${this.settings.target}: ${messageOf(error)}`);
      return batch.map(() => Promise.resolve(reason));
    }
    const confirms: Promise<Outcome>[] = [];
    let writing = mayWrite(sending);
    for (const [index, message] of batch.entries()) {
      if (!writing) {
        confirms.push(Promise.resolve(WITHDRAWN));
        continue;
      }
      const { accepted, confirmed } = this.send(session.channel, keys[index] as string, message);
      confirms.push(confirmed);
      if (!accepted) {
        await drained(session.channel);
        writing = mayWrite(sending);
      }
    }
    return confirms;
  }

  /** Publishes one message; `accepted` is false when the socket's buffer is full and it is time to wait. */
  private send(channel: ConfirmChannel, routingKey: string, message: BrokerMessage): { accepted: boolean; confirmed: Promise<Outcome> } {
    let accepted = true;
    const confirmed = new Promise<Outcome>((resolve) => {
      const options: Options.Publish = {
        persistent: true,
        messageId: message.event.id,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        type: eventName(message.event.event).dotted,
        timestamp: Math.floor(msOfIso(message.event.createdAt) / 1000),
        appId: 'pombo',
        headers: messageHeaders(message.event),
      };
      const body = Buffer.from(message.body);
      try {
        accepted = channel.publish(this.settings.exchange, routingKey, body, options, (error: unknown) =>
          resolve(error ? retry(`RabbitMQ did not confirm: ${messageOf(error)}`) : delivered()),
        );
      } catch (error) {
        resolve(retry(`RabbitMQ publish failed: ${messageOf(error)}`));
      }
    });
    return { accepted, confirmed };
  }

  async close(): Promise<void> {
    await this.keeper.close();
  }
}

/** Resolves when the channel can take more (or is gone: the pending confirms then fail on their own). */
function drained(channel: ConfirmChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      channel.off('drain', done);
      channel.off('close', done);
      resolve();
    };
    channel.once('drain', done);
    channel.once('close', done);
  });
}

/** Every outcome, or `late()` for those still unknown after `timeoutMs`. */
async function settleWithin(outcomes: Promise<Outcome>[], timeoutMs: number, late: () => Outcome): Promise<Outcome[]> {
  const settled: (Outcome | undefined)[] = outcomes.map(() => undefined);
  outcomes.forEach((outcome, index) => void outcome.then((value) => (settled[index] = value)));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([Promise.all(outcomes), timeout]);
  clearTimeout(timer);
  return settled.map((value) => value ?? late());
}
