import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { DELIVERED, retry, type Outcome } from '../../delivery/outcome.ts';
import { natsHeaders } from './nats-headers.ts';
import { reasonOf } from '../../core/error-reason.ts';

export interface JetStreamMessage {
  readonly subject: string;
  /** The payload: bytes as they go out (the driver encodes once, to size it), or text the client encodes. */
  readonly body: Uint8Array | string;
  /** Header names and values; the publisher adds `Nats-Msg-Id`. */
  readonly headers: Readonly<Record<string, string>>;
  /** `Nats-Msg-Id`: the stream drops a second message with the same id within its duplicate window. */
  readonly msgId: string;
}

/** One `publish` call waiting for its acks: message `index` of it is answered on `{inbox}.{token}.{index}`. */
interface PendingBatch {
  readonly outcomes: (Outcome | undefined)[];
  left: number;
  readonly finish: () => void;
}

/** The reason given when no stream stores a subject (the stream was deleted, say). */
export const NO_STREAM = 'no JetStream stream stores this subject (no responders)';

/** How every PubAck of a stream begins (`{"stream":"NAME","seq":N…}`); an API error carries `"error"`. */
const PUB_ACK_START = '{"stream":"';

/** What a JetStream server answered to one publish: a PubAck, an API error, or "no responders". */
export function outcomeOf(message: Msg): Outcome {
  if (message.data.length === 0) {
    const status = message.headers?.code;
    return retry(status === 503 ? NO_STREAM : `JetStream answered status ${status ?? 'none'}`);
  }
  const text = message.string();
  // The common answer is read without parsing it; anything else (an error, another field order) is parsed.
  if (text.startsWith(PUB_ACK_START) && !text.includes('"error"')) return DELIVERED;
  try {
    const ack = JSON.parse(text) as { stream?: string; error?: { code?: number; description?: string } };
    if (ack.error) return retry(`JetStream refused the message: ${ack.error.description ?? 'unknown error'} (${ack.error.code ?? '?'})`);
    return ack.stream ? DELIVERED : retry('JetStream answered without a stream');
  } catch (error) {
    return retry(`unreadable JetStream ack: ${reasonOf(error)}`);
  }
}

/**
 * Publishes to JetStream with asynchronous acknowledgements: every message carries a reply subject
 * under one inbox of this publisher, and the PubAcks come back on one subscription. The JetStream
 * client's `publish()` makes a request per message (an object, a timer and a promise each); this is
 * the same protocol for a third of the CPU, which is what decides throughput on a busy Pombo. The
 * bookkeeping is per batch (one entry, one timer), the reply subject names the batch and the index.
 */
export class JetStreamPublisher {
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, PendingBatch>();
  private readonly subscription: Subscription;
  private next = 0;

  constructor(private readonly nc: NatsConnection) {
    this.subscription = nc.subscribe(`${this.inbox}.*.*`, {
      callback: (error, message) => {
        if (!error) this.acked(message);
      },
    });
  }

  /** Publishes the batch; resolves with one outcome per message once all are answered or `timeoutMs` passed. */
  publish(batch: readonly JetStreamMessage[], timeoutMs: number): Promise<Outcome[]> {
    if (batch.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const token = String(this.next++);
      const outcomes: (Outcome | undefined)[] = new Array(batch.length);
      const finish = () => {
        clearTimeout(timer);
        this.pending.delete(token);
        resolve(Array.from(outcomes, (outcome) => outcome ?? retry(`no JetStream ack within ${timeoutMs} ms (NATS_PUBLISH_TIMEOUT_MS)`)));
      };
      const timer = setTimeout(finish, timeoutMs);
      const waiting: PendingBatch = { outcomes, left: batch.length, finish };
      this.pending.set(token, waiting);
      const replyPrefix = `${this.inbox}.${token}.`;
      for (let index = 0; index < batch.length; index++) {
        const message = batch[index] as JetStreamMessage;
        try {
          const headers = natsHeaders(message.headers, message.msgId);
          this.nc.publish(message.subject, message.body, { reply: replyPrefix + index, headers });
        } catch (error) {
          this.answer(waiting, index, retry(`NATS: ${reasonOf(error)}`));
        }
      }
    });
  }

  /** A PubAck (or a status) on `{inbox}.{token}.{index}`: the answer for that message of that batch. */
  private acked(message: Msg): void {
    const { subject } = message;
    const dot = subject.lastIndexOf('.');
    const waiting = this.pending.get(subject.slice(this.inbox.length + 1, dot));
    if (waiting) this.answer(waiting, Number(subject.slice(dot + 1)), outcomeOf(message));
  }

  /** The first answer for a message counts (a late second one, after a retry of the batch, does not). */
  private answer(waiting: PendingBatch, index: number, outcome: Outcome): void {
    if (!Number.isInteger(index) || index < 0 || index >= waiting.outcomes.length || waiting.outcomes[index] !== undefined) return;
    waiting.outcomes[index] = outcome;
    if (--waiting.left === 0) waiting.finish();
  }

  /** The connection dropped: acks of messages in flight will not come; answer them now so they go again. */
  abandon(reason: string): void {
    for (const waiting of [...this.pending.values()]) {
      for (let index = 0; index < waiting.outcomes.length; index++) {
        if (waiting.outcomes[index] === undefined) this.answer(waiting, index, retry(reason));
      }
    }
  }

  close(): void {
    this.subscription.unsubscribe();
  }
}
