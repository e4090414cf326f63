import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { DestinationSpec } from '../../src/delivery/destination.ts';
import { backoff } from '../../src/delivery/retry-policy.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/types.ts';

export const silent = pino({ level: 'silent' });

/** A logger at info whose lines a test reads (`text()`: everything logged so far). */
export function capturedLog(): { log: Logger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  return { log: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }), lines, text: () => lines.join('') };
}

/** Runs with a fresh SQLite log in a folder of its own (`file` to reopen it). */
export async function withStore(run: (store: Store, file: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-dispatch-'));
  const file = join(dir, 'pombo.db');
  const store = new SqliteStore(file);
  try {
    await run(store, file);
  } finally {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function instance(store: Store, name: string): Promise<string> {
  const created = await store.createInstance({ id: name, name, token: `${name}-token`, integration: 'INGEST', number: null, channels: {} });
  return created.id;
}

/** A destination reading every event from the log's start, unordered, recording every delivery, three attempts 5-20 ms apart. */
export function spec(partial: Partial<DestinationSpec> & Pick<DestinationSpec, 'id' | 'send'>): DestinationSpec {
  return {
    channel: 'test',
    instanceId: null,
    events: null,
    ordering: 'none',
    maxInFlight: 4,
    maxBatch: 1,
    retry: backoff({ maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 20, exponential: true, jitterFactor: 0 }),
    record: 'all',
    startAt: 'beginning',
    ...partial,
  };
}
