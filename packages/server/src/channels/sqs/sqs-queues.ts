import { createHash } from 'node:crypto';
import { CreateQueueCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { eventName } from '../../core/event-names.ts';
import type { BrokerMessage } from '../broker/broker-channel.ts';
import type { SqsSettings } from '../../config/sqs-settings.ts';

/** SQS's limit on queue names, `.fifo` included. */
const MAX_NAME = 80;

/**
 * A name within SQS's 80 characters: a longer one keeps its start and ends with a hash of the whole,
 * so two instances with long names never share a queue.
 */
function fitted(name: string, suffix: string): string {
  if (name.length + suffix.length <= MAX_NAME) return `${name}${suffix}`;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_NAME - suffix.length - hash.length - 1).replace(/[-_]+$/, '')}-${hash}${suffix}`;
}

/**
 * `{prefix}-{instance}-{event-kebab}` (seed 001: `evolution-minha-instancia-messages-upsert`); in global
 * mode `{prefix}-{globalPrefix}-{event-kebab}`, or `{prefix}-{globalPrefix}` for one queue; `.fifo` for FIFO.
 */
export function queueNameOf(settings: SqsSettings, message: BrokerMessage, fifo: boolean): string {
  const kebab = eventName(message.event.event).kebab;
  const global = `${settings.queuePrefix}-${settings.globalPrefix}`;
  let name = `${settings.queuePrefix}-${message.event.instance}-${kebab}`;
  if (message.scope === 'global') name = settings.globalSingleQueue ? global : `${global}-${kebab}`;
  return fitted(name, fifo ? '.fifo' : '');
}

/** A queue that does not exist, in the words of the JSON protocol or of the older query protocol. */
export function isMissingQueue(error: unknown): boolean {
  const { name, Code, message } = error as { name?: string; Code?: string; message?: string };
  return /QueueDoesNotExist|NonExistentQueue/.test(`${name} ${Code} ${message}`);
}

/**
 * Queue URLs by name, looked up once and created when missing (Evolution API users had to create
 * them by hand). A queue deleted behind Pombo's back (or an in-memory server restarted) is forgotten
 * on the first failed send and created again on the next.
 */
export class SqsQueues {
  private readonly urls = new Map<string, Promise<string>>();

  constructor(
    private readonly client: SQSClient,
    private readonly settings: SqsSettings,
  ) {}

  url(name: string): Promise<string> {
    let url = this.urls.get(name);
    if (!url) {
      url = this.resolve(name);
      this.urls.set(name, url);
      url.catch(() => this.forget(name));
    }
    return url;
  }

  forget(name: string): void {
    this.urls.delete(name);
  }

  private async resolve(name: string): Promise<string> {
    try {
      const found = await this.client.send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: this.settings.accountId }));
      if (found.QueueUrl) return found.QueueUrl;
    } catch (error) {
      if (!isMissingQueue(error)) throw error;
    }
    const attributes: Record<string, string> = name.endsWith('.fifo') ? { FifoQueue: 'true' } : {};
    const created = await this.client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    if (!created.QueueUrl) throw new Error(`SQS created queue ${name} but returned no URL`);
    return created.QueueUrl;
  }
}
