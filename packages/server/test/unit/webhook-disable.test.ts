import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AppContext } from '../../src/app-context.ts';
import type { InstanceService } from '../../src/instances/instance-service.ts';
import type { ChannelsEdit, Instance } from '../../src/store/types.ts';
import { WebhookBook } from '../../src/channels/webhook/webhook-book.ts';
import { disableFailing } from '../../src/channels/webhook/webhook-disable.ts';

const instance = (webhook: object): Instance => ({
  id: 'i-1',
  name: 'one',
  token: 't',
  integration: 'INGEST',
  number: null,
  state: 'open',
  ownerJid: null,
  profileName: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  channels: { webhook: { url: 'http://127.0.0.1:9/hook', events: [], ...webhook } },
  version: 1,
});

test('a failing webhook that another node disabled between an edit’s read and its write is not reported disabled twice', async () => {
  // The store's compare-and-set (editChannels on PostgreSQL): the edit read the webhook enabled, another
  // node disabled it before the write, so the change is made again over the row as that node left it.
  const rows = [instance({ enabled: true }), instance({ enabled: false, disabledAt: '2026-01-01T00:00:01.000Z' })];
  const instances = {
    editChannels: async (_id: string, change: ChannelsEdit) => {
      let edited: Instance | undefined;
      for (const row of rows) edited = { ...row, channels: { ...row.channels, ...change(row) } };
      return edited as Instance;
    },
  } as unknown as InstanceService;
  const emitted: unknown[] = [];
  const context = { instances: { emit: async (...args: unknown[]) => emitted.push(args) }, log: { warn: () => undefined, error: () => undefined } } as unknown as AppContext;
  const streak = { failures: 5, since: Date.now() - 1000, lastError: 'HTTP 500', tripped: true };
  await disableFailing(context, new WebhookBook(instances), { afterFailures: 5, afterMs: 0 }, { instanceId: 'i-1', endpointId: null }, streak);
  assert.deepEqual(emitted, [], 'WEBHOOK_DISABLED is the other node’s to append');
});
