import type { Producer } from '@platformatic/kafka';
import type { KafkaRecord } from './kafka-records.ts';

/** A send that was not made because one queued before it failed: its outcome is a retry, and the session is not blamed twice. */
export class NotSentBehindFailure extends Error {
  constructor(readonly failure: unknown) {
    super('not sent: a request queued before it failed');
  }
}

interface Waiting {
  readonly records: readonly KafkaRecord[];
  readonly bytes: number;
  /** Only sends of one group (a destination) share a request: one destination's failing topic does not fail another's sends. */
  readonly group: string;
  resolve(): void;
  reject(error: unknown): void;
}

export interface SendLimits {
  /** The broker's limit for one batch (KAFKA_MAX_MESSAGE_BYTES): sends are joined only below it. */
  readonly maxBytes: number;
  /** Messages in one request at most: sends are joined only below it. */
  readonly maxMessages: number;
}

/**
 * One request at a time on an idempotent producer, in the order the sends were asked.
 *
 * The producer numbers each partition's batches when it builds a request and counts them only when
 * the broker answers, so two requests in flight for one partition carry the same sequence number and
 * the broker takes the second for a duplicate of the first: it answers success and writes nothing
 * (seen with @platformatic/kafka 1.35: eight concurrent sends of one message each, eight successes,
 * one record). Lanes of one destination (`ordering: "chat"`) and destinations sharing a partition
 * therefore wait here for the request before theirs.
 *
 * Sends of one destination that wait while a request is in flight go out together in the next
 * request, up to the limits, so that many small lanes do not each pay a round trip; a lane that sends
 * its next batch before the previous one is answered (the channel's pipeline) has it ready to go the
 * moment the broker answers. When a request fails, none of the sends queued behind it is made (they
 * reject with `NotSentBehindFailure`): a batch never overtakes an earlier one of its lane that
 * failed, and nothing more goes out on a producer whose sequence numbers may be out of step.
 */
export class KafkaSendQueue {
  private readonly waiting: Waiting[] = [];
  private busy = false;

  constructor(
    private readonly producer: Pick<Producer<Buffer, Buffer, Buffer, Buffer>, 'send'>,
    private readonly limits: SendLimits,
  ) {}

  /** Resolves once the broker acknowledged these records, or rejects with why not. */
  send(records: readonly KafkaRecord[], bytes: number, group: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ records, bytes, group, resolve, reject });
      if (!this.busy) this.next();
    });
  }

  private next(): void {
    const taken = this.take();
    if (!taken.length) {
      this.busy = false;
      return;
    }
    this.busy = true;
    const messages = taken.length === 1 ? (taken[0] as Waiting).records : taken.flatMap((send) => send.records);
    this.producer.send({ messages: messages as KafkaRecord[] }).then(
      () => {
        // The next request leaves before these answers are handled, so the broker is not kept waiting.
        this.next();
        for (const send of taken) send.resolve();
      },
      (error: unknown) => {
        const behind = this.waiting.splice(0);
        this.busy = false;
        for (const send of taken) send.reject(error);
        for (const send of behind) send.reject(new NotSentBehindFailure(error));
      },
    );
  }

  /**
   * The first waiting send, and the later ones of its group in their order while the request stays
   * within the limits (the first that does not fit ends the request, so no send of a lane overtakes
   * an earlier one of the same lane).
   */
  private take(): Waiting[] {
    const first = this.waiting.shift();
    if (!first) return [];
    const taken = [first];
    let bytes = first.bytes;
    let count = first.records.length;
    for (let index = 0; index < this.waiting.length; ) {
      const next = this.waiting[index] as Waiting;
      if (next.group !== first.group) {
        index++;
        continue;
      }
      if (bytes + next.bytes > this.limits.maxBytes || count + next.records.length > this.limits.maxMessages) break;
      taken.push(next);
      bytes += next.bytes;
      count += next.records.length;
      this.waiting.splice(index, 1);
    }
    return taken;
  }
}
