import { createHash } from 'node:crypto';
import type { IngestItem } from './ingest-body.ts';

/**
 * What makes a request sent again under its Idempotency-Key the same request: its events in order,
 * each by its producer id (the event's own `id`, or the key and the event's place, so one event and a
 * batch of one differ), its name and its data. A digest: the store keeps one short string per key.
 */
export function requestFingerprint(items: readonly IngestItem[]): string {
  const canonical = JSON.stringify(items.map((item) => [item.producerId, item.event, item.data ?? null]));
  return createHash('sha256').update(canonical).digest('hex');
}
