import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { feedId } from '../../src/channels/realtime/realtime-feed.ts';
import { SubscriberNames, type HandshakeEnded } from '../../src/channels/realtime/subscriber-names.ts';
import { PomboError } from '../../src/core/errors.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

test('subscriber names: new names count from their admission, so handshakes at once cannot pass the limit together; a name none of whose handshakes connected is let go', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-names-'));
  const store = new SqliteStore(join(dir, 'pombo.db'));
  try {
    await store.saveDeliveries(`${feedId('i')}:stored`, [], 0);
    const names = new SubscriberNames(store, 3);
    const admit = (name: string): Promise<HandshakeEnded | string> =>
      names.admit('i', 'inst', name).catch((error: unknown) => (error instanceof PomboError ? error.code : Promise.reject(error)));
    const refused = 'POMBO_ERR_LIMIT_REACHED';
    // The stored name counts; of three new names at once, before any handshake ended, two fit.
    const [a, b, c, stored] = await Promise.all([admit('a'), admit('b'), admit('c'), admit('stored')]);
    assert.equal(typeof a, 'function');
    assert.equal(typeof b, 'function');
    assert.equal(c, refused);
    assert.equal(typeof stored, 'function');
    const aAgain = (await admit('a')) as HandshakeEnded;
    (a as HandshakeEnded)(false);
    assert.equal(await admit('c'), refused, "'a' counts while one of its handshakes is under way");
    aAgain(true);
    (b as HandshakeEnded)(false);
    const cNow = await admit('c');
    assert.equal(typeof cNow, 'function', "'b' did not connect: its place is free");
    assert.equal(await admit('b'), refused);
    assert.equal(typeof (await admit('a')), 'function', "'a' connected: it is used");
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
