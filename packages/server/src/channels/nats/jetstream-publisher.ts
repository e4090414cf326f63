import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { delivered, retry, type Outcome } from '../../delivery/outcome.ts';

export interface JetStreamMessage {
  readonly subject: string;
  readonly body: string;
  readonly headers: MsgHdrs;
  /** `Nats-Msg-Id`: the stream drops a second message with the same id within its duplicate window. */
  readonly msgId: string;
}

interface Waiting {
  readonly outcomes: (Outcome | undefined)[];
  readonly index: number;
  readonly done: () => void;
}

/** The reason given when no stream stores a subject (the stream was deleted, say). */
export const NO_STREAM = 'no JetStream stream stores this subject (no responders)';

const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** What a JetStream server answered to one publish: a PubAck, an API error, or "no responders". */
function outcomeOf(message: Msg): Outcome {
  if (message.data.length === 0) {
    const status = message.headers?.code;
    return retry(status === 503 ? NO_STREAM : `JetStream answered status ${status ?? 'none'}`);
  }
  try {
    const ack = message.json<{ stream?: string; error?: { code?: number; description?: string } }>();
    if (ack.error) return retry(`JetStream refused the message: ${ack.error.description ?? 'unknown error'} (${ack.error.code ?? '?'})`);
    return ack.stream ? delivered() : retry('JetStream answered without a stream');
  } catch (error) {
    return retry(`unreadable JetStream ack: ${reasonOf(error)}`);
  }
}

/**
 * Publishes to JetStream with asynchronous acknowledgements: every message carries a reply subject
 * under one inbox of this publisher, and the PubAcks come back on one subscription. The JetStream
 * client's `publish()` makes a request per message (an object, a timer and a promise each); this is
 * the same protocol for a third of the CPU, which is what decides throughput on a busy Pombo.
 */
export class JetStreamPublisher {
  private readonly inbox = createInbox();
  private readonly waiting = new Map<string, Waiting>();
  private readonly subscription: Subscription;
  private next = 0;

  constructor(private readonly nc: NatsConnection) {
    this.subscription = nc.subscribe(`${this.inbox}.*`, {
      callback: (error, message) => {
        if (!error) this.acked(message);
      },
    });
  }

  /** Publishes the batch; resolves with one outcome per message once all are answered or `timeoutMs` passed. */
  publish(batch: readonly JetStreamMessage[], timeoutMs: number): Promise<Outcome[]> {
    return new Promise((resolve) => {
      const outcomes: (Outcome | undefined)[] = new Array(batch.length);
      const tokens: string[] = [];
      let left = batch.length;
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        for (const token of tokens) this.waiting.delete(token);
        resolve(Array.from(outcomes, (outcome) => outcome ?? retry(`no JetStream ack within ${timeoutMs} ms (NATS_PUBLISH_TIMEOUT_MS)`)));
      };
      const done = () => {
        if (--left === 0) finish();
      };
      timer = setTimeout(finish, timeoutMs);
      batch.forEach((message, index) => {
        const token = String(this.next++);
        tokens.push(token);
        this.waiting.set(token, { outcomes, index, done });
        message.headers.set('Nats-Msg-Id', message.msgId);
        try {
          this.nc.publish(message.subject, message.body, { reply: `${this.inbox}.${token}`, headers: message.headers });
        } catch (error) {
          this.waiting.delete(token);
          outcomes[index] = retry(`NATS: ${reasonOf(error)}`);
          done();
        }
      });
      if (batch.length === 0) finish();
    });
  }

  private acked(message: Msg): void {
    const token = message.subject.slice(this.inbox.length + 1);
    const waiting = this.waiting.get(token);
    if (!waiting) return;
    this.waiting.delete(token);
    waiting.outcomes[waiting.index] = outcomeOf(message);
    waiting.done();
  }

  /** The connection dropped: acks of messages in flight will not come; answer them now so they go again. */
  abandon(reason: string): void {
    for (const [token, waiting] of this.waiting) {
      this.waiting.delete(token);
      waiting.outcomes[waiting.index] = retry(reason);
      waiting.done();
    }
  }

  close(): void {
    this.subscription.unsubscribe();
  }
}
