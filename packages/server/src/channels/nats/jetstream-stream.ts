import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';

const isStreamNotFound = (error: unknown): boolean =>
  error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;

/**
 * Makes sure a stream stores `{prefix}.>`, so that every publish is acknowledged by JetStream: the
 * named stream (created, or given the subjects if it lacks them), or a stream the operator already
 * made for these subjects (JetStream refuses two streams with overlapping subjects).
 */
export async function ensureStream(jsm: JetStreamManager, name: string, prefix: string, log: Logger): Promise<void> {
  const subject = `${prefix}.>`;
  try {
    const info = await jsm.streams.info(name);
    const subjects = info.config.subjects ?? [];
    if (!subjects.includes(subject)) await jsm.streams.update(name, { subjects: [...subjects, subject] });
    return;
  } catch (error) {
    if (!isStreamNotFound(error)) throw error;
  }
  try {
    await jsm.streams.add({ name, subjects: [subject] });
    log.info({ stream: name, subject }, 'created the JetStream stream for events');
  } catch (error) {
    const owner = await jsm.streams.find(subject).catch(() => undefined);
    if (!owner) throw error;
    log.info({ stream: owner, subject }, 'publishing into the existing JetStream stream that covers the subjects');
  }
}
