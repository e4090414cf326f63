import assert from 'node:assert/strict';
import type { Harness } from '../helpers/pombo-harness.ts';
import { uniqueName } from '../helpers/pombo-harness.ts';

/** Small retry delays so that retries, dead letters and the circuit breaker run in milliseconds. */
export const FAST_RETRIES: Record<string, string> = {
  WEBHOOK_RETRY_INITIAL_DELAY_SECONDS: '0.05',
  WEBHOOK_RETRY_MAX_DELAY_SECONDS: '0.2',
  WEBHOOK_RETRY_JITTER_FACTOR: '0',
  WEBHOOK_REQUEST_TIMEOUT_MS: '5000',
};

export interface TestInstance {
  name: string;
  id: string;
}

/**
 * An INGEST instance (its events come from POST /events), then its webhook set with this config
 * (/webhook/set): the webhook gets only the events the test appends. (One given in the create body gets
 * the instance's INSTANCE_CREATE first: webhook-instance-create.test.ts.)
 */
export async function instanceWithWebhook(pombo: Harness, webhook: Record<string, unknown>, prefix = 'wh'): Promise<TestInstance> {
  const name = uniqueName(prefix);
  const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const set = await pombo.api('POST', `/webhook/set/${name}`, { webhook });
  assert.equal(set.status, 201, JSON.stringify(set.body));
  return { name, id: created.body.instance.instanceId };
}

export interface TestEvent {
  event: string;
  data: unknown;
}

/** A message in a chat, shaped like Evolution API's MESSAGES_UPSERT data. */
export const message = (remoteJid: string, text: string): TestEvent => ({
  event: 'MESSAGES_UPSERT',
  data: { key: { remoteJid, fromMe: false, id: `MSG-${text}` }, message: { conversation: text }, messageType: 'conversation' },
});

/** Appends events through the ingest API and returns their ids, in order. */
export async function emit(pombo: Harness, instance: TestInstance, events: readonly TestEvent[]): Promise<string[]> {
  const response = await pombo.api('POST', `/events/${instance.name}`, { events });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body.events.map((event: { id: string }) => event.id);
}

/** Waits until the instance's webhook has nothing in flight or ready to send. */
export async function settled(pombo: Harness, instance: TestInstance): Promise<void> {
  await pombo.pombo.context.dispatcher.whenIdle(`webhook:${instance.id}`);
}
