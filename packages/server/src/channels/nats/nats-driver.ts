import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { eventName } from '../../core/event-names.ts';
import { referenceTo } from '../../core/event-reference.ts';
import { dead, delivered, retry, type Outcome } from '../../delivery/outcome.ts';
import { mayWrite, messageHeaders, WITHDRAWN, type BrokerDriver, type BrokerMessage, type BrokerTarget } from '../broker/broker-channel.ts';
import type { SendContext } from '../../delivery/destination.ts';
import { ConnectionKeeper } from '../broker/connection-keeper.ts';
import { JetStreamPublisher, NO_STREAM, type JetStreamMessage } from './jetstream-publisher.ts';
import { ensureStream } from './jetstream-stream.ts';
import { natsHeaders } from './nats-headers.ts';
import type { NatsSettings } from '../../config/nats-settings.ts';
import { reasonOf } from '../../core/error-reason.ts';

interface Session {
  readonly nc: NatsConnection;
  /** Set with NATS_JETSTREAM_ENABLED: publishes wait for the stream's acknowledgement. */
  readonly js: JetStreamPublisher | undefined;
}

/** `{prefix}.{instance}.{event.dotted}`, e.g. `evolution.minha-instancia.messages.upsert` (seed 001). */
export const subjectOf = (prefix: string, message: BrokerMessage): string =>
  `${prefix}.${message.event.instance}.${eventName(message.event.event).dotted}`;

/**
 * The message: the envelope, or a reference to it when the envelope and headers exceed the server's
 * max_payload (1 MB by default), so that no event is dropped for its size. The body is encoded here,
 * once: the client would encode the text anyway, and its byte length is what max_payload counts.
 */
function messageOf(message: BrokerMessage, maxPayload: number | undefined): { body: Uint8Array; headers: Record<string, string> } {
  const values = messageHeaders(message.event);
  // Headers count towards max_payload ("name: value\r\n" each, the status line, JetStream's Nats-Msg-Id).
  let headerBytes = 64 + message.event.id.length;
  for (const name in values) headerBytes += name.length + Buffer.byteLength(values[name] as string) + 4;
  const body = Buffer.from(message.body);
  if (maxPayload === undefined || body.length + headerBytes <= maxPayload) return { body, headers: values };
  return { body: Buffer.from(JSON.stringify(referenceTo(message.body, body.length + headerBytes))), headers: values };
}

/** A message the server can never take (larger than its max_payload) is dead; anything else is worth a retry. */
function failed(error: unknown): Outcome {
  const message = reasonOf(error);
  return message.includes('max_payload') ? dead(`NATS refuses the message: ${message}`) : retry(`NATS: ${message}`);
}

/**
 * Publishes to NATS subjects. Core NATS (the default) is at most once: a batch is delivered once the
 * server has read it (publish, then flush). With JetStream every message is acknowledged by the stream
 * and carries `Nats-Msg-Id` = the event id, so a republished event is dropped by the server's dedupe.
 * The client reconnects forever by itself; a first connection that fails is retried by the keeper.
 */
export class NatsDriver implements BrokerDriver {
  private readonly keeper: ConnectionKeeper<Session>;

  constructor(
    private readonly settings: NatsSettings,
    private readonly log: Logger,
  ) {
    this.keeper = new ConnectionKeeper({
      target: `NATS at ${settings.servers.join(',')}`,
      connect: () => this.open(),
      disconnect: (session) => {
        session.js?.abandon('the connection was closed');
        return session.nc.close();
      },
      log,
    });
  }

  start(): void {
    this.keeper.start();
  }

  connection() {
    return this.keeper.connection();
  }

  private async open(): Promise<Session> {
    const { servers, user, pass, token, tls } = this.settings;
    const nc = await connect({
      // A copy: the configuration is frozen, and the client may write on the options it is given.
      servers: [...servers],
      ...(user === undefined ? {} : { user, pass }),
      ...(token === undefined ? {} : { token }),
      ...(tls ? { tls: {} } : {}),
      name: 'pombo',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      timeout: 10_000,
      // Each request would otherwise capture a stack for its error: a third of the CPU of a JetStream publish.
      noAsyncTraces: true,
    });
    try {
      let js: JetStreamPublisher | undefined;
      if (this.settings.jetstream) {
        await this.ensureStream(nc);
        js = new JetStreamPublisher(nc);
      }
      const session: Session = { nc, js };
      void this.watch(session);
      return session;
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  private async ensureStream(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc, { timeout: this.settings.publishTimeoutMs });
    await ensureStream(jsm, this.settings.stream, this.settings.prefix, this.log);
  }

  /** Mirrors the client's own reconnects in the keeper's state; a closed client is replaced. */
  private async watch(session: Session): Promise<void> {
    void session.nc.closed().then((error) => this.keeper.lost(session, error ?? 'the connection closed'));
    for await (const status of session.nc.status()) {
      if (status.type === 'disconnect') {
        this.log.warn({ target: `NATS at ${status.server}` }, 'broker connection lost; reconnecting');
        this.keeper.report('connecting', `disconnected from ${status.server}; reconnecting`);
        session.js?.abandon(`the connection to ${status.server} dropped before JetStream acknowledged`);
      } else if (status.type === 'reconnect') {
        this.log.info({ target: `NATS at ${status.server}` }, 'broker connection restored');
        this.keeper.report('connected');
      } else if (status.type === 'error') {
        this.log.warn({ error: reasonOf(status.error) }, 'NATS reported an error');
      }
    }
  }

  async publish(batch: readonly BrokerMessage[], _destination?: BrokerTarget, sending?: SendContext): Promise<Outcome[]> {
    let session: Session;
    try {
      session = await this.keeper.get();
    } catch (error) {
      return batch.map(() => retry(`NATS at ${this.settings.servers.join(',')}: ${reasonOf(error)}`));
    }
    // The connection may have been awaited: the lease is asked again before anything is written.
    if (!mayWrite(sending)) return batch.map(() => WITHDRAWN);
    const { state, lastError } = this.keeper.connection();
    // While the client reconnects it would buffer publishes: better to keep them in the log.
    if (state !== 'connected') return batch.map(() => retry(`NATS: ${lastError ?? state}`));
    const maxPayload = session.nc.info?.max_payload;
    if (!session.js) return this.publishCore(session.nc, batch, maxPayload);
    return this.publishJetStream(session.nc, session.js, batch, maxPayload);
  }

  private async publishJetStream(nc: NatsConnection, js: JetStreamPublisher, batch: readonly BrokerMessage[], maxPayload: number | undefined): Promise<Outcome[]> {
    const messages = batch.map((message): JetStreamMessage => {
      const { body, headers: values } = messageOf(message, maxPayload);
      return { subject: subjectOf(this.settings.prefix, message), body, headers: values, msgId: message.event.id };
    });
    const outcomes = await js.publish(messages, this.settings.publishTimeoutMs);
    // The stream is gone (deleted by hand, or a server restarted without its storage): make it again.
    if (outcomes.some((outcome) => outcome.kind === 'retry' && outcome.error === NO_STREAM)) {
      await this.ensureStream(nc).catch((error) => this.log.warn({ error: reasonOf(error) }, 'cannot ensure the JetStream stream'));
    }
    return outcomes;
  }

  private async publishCore(nc: NatsConnection, batch: readonly BrokerMessage[], maxPayload: number | undefined): Promise<Outcome[]> {
    const outcomes = batch.map((message): Outcome | undefined => {
      try {
        const { body, headers: values } = messageOf(message, maxPayload);
        nc.publish(subjectOf(this.settings.prefix, message), body, { headers: natsHeaders(values) });
        return undefined;
      } catch (error) {
        return failed(error);
      }
    });
    try {
      await withTimeout(nc.flush(), this.settings.publishTimeoutMs);
    } catch (error) {
      return outcomes.map((outcome) => outcome ?? failed(error));
    }
    return outcomes.map((outcome) => outcome ?? delivered());
  }

  async close(): Promise<void> {
    await this.keeper.close();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (NATS_PUBLISH_TIMEOUT_MS)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
