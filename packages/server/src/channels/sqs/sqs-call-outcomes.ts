import type { SendMessageBatchRequestEntry, SendMessageBatchResult } from '@aws-sdk/client-sqs';
import { delivered, retry, type Outcome } from '../../delivery/outcome.ts';

/**
 * The outcome of each entry of one SendMessageBatch call, by entry id. SQS answers each entry on its
 * own, with no all-or-nothing batch: in a FIFO queue it can refuse one message and take the ones after
 * it in the same message group. Those are answered `retry` as well, so that none counts as delivered
 * while one before it is not, and they go again after it: SQS drops such a copy within its 5-minute
 * deduplication window (the deduplication id is the event id), so none is delivered twice. Entries
 * without a group (standard queues) are answered on their own.
 */
export function callOutcomes(queue: string, entries: readonly SendMessageBatchRequestEntry[], result: SendMessageBatchResult): Map<string, Outcome> {
  const taken = new Set((result.Successful ?? []).map((success) => success.Id));
  const refused = new Map((result.Failed ?? []).map((failure) => [failure.Id, failure]));
  const stoppedGroups = new Set<string>();
  const outcomes = new Map<string, Outcome>();
  for (const { Id = '', MessageGroupId: group } of entries) {
    const failure = refused.get(Id);
    if (failure && group !== undefined) stoppedGroups.add(group);
    if (failure) outcomes.set(Id, retry(`SQS refused the message for ${queue}: ${failure.Code}: ${failure.Message ?? ''}`));
    else if (group !== undefined && stoppedGroups.has(group)) outcomes.set(Id, retry(`held back: SQS refused a message before it in its FIFO group (${queue})`));
    else outcomes.set(Id, taken.has(Id) ? delivered() : retry(`SQS did not answer for the message to ${queue}`));
  }
  return outcomes;
}
