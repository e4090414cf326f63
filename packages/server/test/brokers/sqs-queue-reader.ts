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

/**
 * Receives (and deletes) a queue's messages as a consumer would, until `done` holds for everything
 * received so far; waits for the queue to exist first.
 */
export async function receiveUntil(queue: string, done: (received: Received[]) => boolean, timeoutMs = 30_000): Promise<Received[]> {
  const url = await eventually(async () => (await sqs.send(new GetQueueUrlCommand({ QueueName: queue }))).QueueUrl, `queue ${queue}`, timeoutMs, 100);
  const received: Received[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!done(received)) {
    if (Date.now() > deadline) throw new Error(`timed out receiving from ${queue} (got ${received.length})`);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    for (const message of Messages) received.push({ body: JSON.parse(message.Body ?? 'null'), message });
    if (Messages.length) {
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
    }
  }
  return received;
}

/** A message attribute's string value. */
export const attribute = (received: Received, name: string): string | undefined => received.message.MessageAttributes?.[name]?.StringValue;
