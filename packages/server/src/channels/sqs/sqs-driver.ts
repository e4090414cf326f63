import { SendMessageBatchCommand, SQSClient, type MessageAttributeValue, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { withFields } from '../../core/envelope.ts';
import { referenceTo } from '../../core/event-reference.ts';
import { chatOfEvent, type Ordering, type SendContext } from '../../delivery/destination.ts';
import { retry, type Outcome } from '../../delivery/outcome.ts';
import { mayWrite, messageHeaders, WITHDRAWN, type BrokerDriver, type BrokerMessage, type BrokerTarget } from '../broker/broker-channel.ts';
import { RequestState } from '../broker/request-state.ts';
import { callOutcomes } from './sqs-call-outcomes.ts';
import { messageGroupId } from './sqs-message-group.ts';
import { isMissingQueue, queueNameOf, SqsQueues } from './sqs-queues.ts';
import type { SqsSettings } from '../../config/sqs-settings.ts';

/** Entries per SendMessageBatch call (SQS's limit). */
const BATCH_ENTRIES = 10;

interface Entry {
  /** Position in the batch handed to `publish`. */
  readonly index: number;
  readonly queue: string;
  readonly fifo: boolean;
  readonly request: SendMessageBatchRequestEntry;
  readonly size: number;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message || error.name : String(error));
const answered = (error: unknown): boolean => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== undefined;

/** JSON may hold U+FFFE and U+FFFF, which SQS refuses in a message: they travel escaped instead. */
const sqsSafe = (json: string): string => json.replace(/[\ufffe\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16)}`);

function attributesOf(message: BrokerMessage): { attributes: Record<string, MessageAttributeValue>; size: number } {
  const attributes: Record<string, MessageAttributeValue> = {};
  let size = 0;
  for (const [name, value] of Object.entries(messageHeaders(message.event))) {
    attributes[name] = { DataType: 'String', StringValue: value };
    size += Buffer.byteLength(name) + 'String'.length + Buffer.byteLength(value);
  }
  return { attributes, size };
}

/** Splits a queue's entries, in order, into calls of at most 10 entries and `maxBytes` in total. */
function calls(entries: readonly Entry[], maxBytes: number): Entry[][] {
  const result: Entry[][] = [];
  let current: Entry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (current.length === BATCH_ENTRIES || (current.length && bytes + entry.size > maxBytes)) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += entry.size;
  }
  if (current.length) result.push(current);
  return result;
}

/**
 * Sends with SendMessageBatch (10 entries per call, an outcome per entry), to queues it creates on
 * demand. FIFO queues get the instance (or chat) as message group and the event id as deduplication
 * id, and their calls go one after another so that a group keeps its order.
 */
export class SqsDriver implements BrokerDriver {
  private readonly client: SQSClient;
  private readonly queues: SqsQueues;
  private readonly state = new RequestState();

  constructor(private readonly settings: SqsSettings) {
    this.client = new SQSClient({
      region: settings.region,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      // A copy: the configuration is frozen, and the AWS SDK marks the credentials it is given ($source).
      ...(settings.credentials ? { credentials: { ...settings.credentials } } : {}),
      // The dispatcher retries with its own backoff: one quick retry here is enough.
      maxAttempts: 2,
      requestHandler: { connectionTimeout: Math.min(settings.requestTimeoutMs, 5000), requestTimeout: settings.requestTimeoutMs },
    });
    this.queues = new SqsQueues(this.client, settings);
  }

  connection() {
    return this.state.connection();
  }

  /** A standard queue keeps no order: an entry SQS took never goes again because one before it failed. */
  ordered(scope: BrokerMessage['scope'], config?: BrokerMessage['config']): boolean {
    return this.fifo(scope, config);
  }

  /** An instance's `fifo`, or SQS_FIFO. */
  private fifo(scope: BrokerMessage['scope'], config?: BrokerMessage['config']): boolean {
    const configured = config?.fifo;
    return scope === 'instance' && typeof configured === 'boolean' ? configured : this.settings.fifo;
  }

  private entryOf(message: BrokerMessage, index: number, ordering: Ordering): Entry {
    const fifo = this.fifo(message.scope, message.config);
    const { attributes, size: attributesSize } = attributesOf(message);
    let body = sqsSafe(withFields(message.body, { dataType: 'json' }));
    const size = attributesSize + Buffer.byteLength(body);
    if (size > this.settings.maxPayloadBytes) body = sqsSafe(JSON.stringify(referenceTo(message.body, size)));
    const chat = ordering === 'chat' ? chatOfEvent(message.event) : undefined;
    const group = chat === undefined ? message.event.instance : `${message.event.instance}/${chat}`;
    const request: SendMessageBatchRequestEntry = {
      Id: String(index),
      MessageBody: body,
      MessageAttributes: attributes,
      ...(fifo ? { MessageGroupId: messageGroupId(group), MessageDeduplicationId: message.event.id } : {}),
    };
    return { index, queue: queueNameOf(this.settings, message, fifo), fifo, request, size: attributesSize + Buffer.byteLength(body) };
  }

  async publish(batch: readonly BrokerMessage[], destination: BrokerTarget, sending?: SendContext): Promise<Outcome[]> {
    const outcomes: Outcome[] = batch.map(() => retry('not sent: SQS did not take this message, or one before it in its FIFO queue'));
    const byQueue = new Map<string, Entry[]>();
    batch.forEach((message, index) => {
      const entry = this.entryOf(message, index, destination.ordering);
      byQueue.set(entry.queue, [...(byQueue.get(entry.queue) ?? []), entry]);
    });
    await Promise.all([...byQueue.entries()].map(([queue, entries]) => this.sendToQueue(queue, entries, outcomes, sending)));
    return outcomes;
  }

  private async sendToQueue(queue: string, entries: Entry[], outcomes: Outcome[], sending?: SendContext): Promise<void> {
    let url: string;
    try {
      url = await this.queues.url(queue);
    } catch (error) {
      this.failed(`SQS queue ${queue}: ${messageOf(error)}`, error, entries, outcomes);
      return;
    }
    // The queue's URL may have been awaited, and a FIFO call waits for the one before it: the lease is asked again.
    const parts = calls(entries, this.settings.maxPayloadBytes);
    if (!entries[0]?.fifo) {
      if (mayWrite(sending)) await Promise.all(parts.map((part) => this.sendCall(queue, url, part, outcomes)));
      else for (const entry of entries) outcomes[entry.index] = WITHDRAWN;
      return;
    }
    // A FIFO group keeps its order: a call goes only once the one before it was taken whole.
    for (const part of parts) {
      if (!mayWrite(sending)) {
        for (const entry of part) outcomes[entry.index] = WITHDRAWN;
        return;
      }
      if (!(await this.sendCall(queue, url, part, outcomes))) return;
    }
  }

  /** One SendMessageBatch; true when every entry was taken. */
  private async sendCall(queue: string, url: string, entries: Entry[], outcomes: Outcome[]): Promise<boolean> {
    try {
      const result = await this.client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries.map((entry) => entry.request) }));
      this.state.succeeded();
      for (const [id, outcome] of callOutcomes(queue, entries.map((entry) => entry.request), result)) outcomes[Number(id)] = outcome;
      return !result.Failed?.length;
    } catch (error) {
      if (isMissingQueue(error)) this.queues.forget(queue);
      this.failed(`SQS SendMessageBatch to ${queue}: ${messageOf(error)}`, error, entries, outcomes);
      return false;
    }
  }

  private failed(reason: string, error: unknown, entries: readonly Entry[], outcomes: Outcome[]): void {
    this.state.failed(reason, answered(error));
    for (const entry of entries) outcomes[entry.index] = retry(reason);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
