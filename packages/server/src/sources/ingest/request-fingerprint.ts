import { createHash } from 'node:crypto';
import type { IngestItem } from './ingest-body.ts';

/**
 * What makes a request sent again under its Idempotency-Key the same request: whether it is a batch,
 * and its events in order, each by its producer id (the event's own `id`, or the key and the event's
 * place), its name and its data. Whether it is a batch counts on its own: events with their own ids
 * have the same producer ids alone or in a batch of one, yet the second is another request. A digest:
 * the store keeps one short string per key.
 */
export function requestFingerprint(items: readonly IngestItem[], batch: boolean): string {
  const canonical = JSON.stringify([batch, items.map((item) => [item.producerId, item.event, item.data ?? null])]);
  return createHash('sha256').update(canonical).digest('hex');
}
