import { CreateQueueCommand, DeleteQueueCommand, GetQueueUrlCommand, ListQueuesCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { BrokerBench } from './broker-bench.ts';

const ENDPOINT = process.env.BENCH_SQS_ENDPOINT ?? 'http://127.0.0.1:9324';
/** Pombo's broker batch: the raw side sends the same group of messages (as 10-entry calls in parallel) before the next. */
const GROUP = 500;
const ENTRIES = 10;
const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
const queueOf = (run: string, instance: string) => `bench${run}-${instance}-messages-upsert`;
const client = () => new SQSClient({ endpoint: ENDPOINT, region: 'us-east-1', credentials, maxAttempts: 2 });

/** SQS (ElasticMQ here): SendMessageBatch of 10 entries with the event attributes, every entry checked. */
export const sqsBench: BrokerBench = {
  name: 'SQS',
  channel: 'sqs',
  available: () => client().send(new ListQueuesCommand({ MaxResults: 1 })).then(() => true, () => false),
  env: (run) => ({
    SQS_ENABLED: 'true',
    SQS_ENDPOINT_URL: ENDPOINT,
    SQS_REGION: 'us-east-1',
    SQS_ACCESS_KEY_ID: credentials.accessKeyId,
    SQS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    SQS_QUEUE_PREFIX: `bench${run}`,
  }),
  async publishRaw(run, instance, payloads) {
    const sqs = client();
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueOf(run, instance) }));
      const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
      for (let start = 0; start < payloads.length; start += GROUP) {
        const group = payloads.slice(start, start + GROUP);
        const calls = [];
        for (let at = 0; at < group.length; at += ENTRIES) {
          const entries = group.slice(at, at + ENTRIES).map((payload, index) => ({
            Id: String(index),
            MessageBody: payload.body.toString(),
            MessageAttributes: { 'event-id': attribute(payload.id), event: attribute(payload.event), instance: attribute(instance) },
          }));
          calls.push(
            sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: entries })).then((result) => {
              if (result.Failed?.length) throw new Error(`SQS refused ${result.Failed.length} messages`);
            }),
          );
        }
        await Promise.all(calls);
      }
    } finally {
      sqs.destroy();
    }
  },
  async cleanup(run, instance) {
    const sqs = client();
    try {
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queueOf(run, instance) }));
      await sqs.send(new DeleteQueueCommand({ QueueUrl }));
    } catch {
      // nothing was created
    } finally {
      sqs.destroy();
    }
  },
};
