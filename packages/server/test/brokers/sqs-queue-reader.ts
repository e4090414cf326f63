import {
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { eventually } from '../helpers/pombo-harness.ts';

export const SQS_ENDPOINT = 'http://127.0.0.1:9324';

/** What Pombo needs to reach the test server (scripts/services/sqs.sh: ElasticMQ, any credentials). */
export const sqsEnv = (endpoint = SQS_ENDPOINT): Record<string, string> => ({
  SQS_ENABLED: 'true',
  SQS_ENDPOINT_URL: endpoint,
  SQS_REGION: 'us-east-1',
  SQS_ACCESS_KEY_ID: 'test',
  SQS_SECRET_ACCESS_KEY: 'test',
  SQS_RETRY_MAX_DELAY_MS: '300',
});

export const sqs = new SQSClient({ endpoint: SQS_ENDPOINT, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });

export async function sqsAvailable(): Promise<boolean> {
  try {
    await sqs.send(new ListQueuesCommand({ MaxResults: 1 }));
    return true;
  } catch {
    return false;
  }
}

export async function queueNames(prefix: string): Promise<string[]> {
  const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }));
  return (listed.QueueUrls ?? []).map((url) => url.slice(url.lastIndexOf('/') + 1)).sort();
}

export async function deleteQueue(name: string): Promise<void> {
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  await sqs.send(new DeleteQueueCommand({ QueueUrl }));
}

export interface Received {
  readonly body: any;
  readonly message: Message;
}

/** A consumer receiving (and deleting) a queue's messages in the background; `received` grows as they arrive. */
export async function followQueue(queue: string, timeoutMs = 30_000): Promise<{ received: Received[]; close(): Promise<void> }> {
  const url = await eventually(async () => (await sqs.send(new GetQueueUrlCommand({ QueueName: queue }))).QueueUrl, `queue ${queue}`, timeoutMs, 100);
  const received: Received[] = [];
  let open = true;
  const loop = (async () => {
    while (open) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
      );
      for (const message of Messages) received.push({ body: JSON.parse(message.Body ?? 'null'), message });
      if (Messages.length) {
        await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
      }
    }
  })();
  return {
    received,
    async close() {
      open = false;
      await loop;
    },
  };
}

/** Receives (and deletes) a queue's messages until `done` holds for everything received (waits for the queue to exist). */
export async function receiveUntil(queue: string, done: (received: Received[]) => boolean, timeoutMs = 30_000): Promise<Received[]> {
  const follower = await followQueue(queue, timeoutMs);
  try {
    await eventually(() => done(follower.received), `messages on ${queue} (got ${follower.received.length})`, timeoutMs, 50);
    return follower.received;
  } finally {
    await follower.close();
  }
}

/** A message attribute's string value. */
export const attribute = (received: Received, name: string): string | undefined => received.message.MessageAttributes?.[name]?.StringValue;
