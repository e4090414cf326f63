import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/**
 * Which folders of src/ a folder must not import from. Channels deliver and take connections; the
 * HTTP layer sits on top of them (it mounts their routes), so a channel reaching into http/ would
 * tie the two in a circle. core/ is the bottom: names, errors, validators, authentication.
 */
const FORBIDDEN: Record<string, readonly string[]> = {
  channels: ['http'],
  core: ['http', 'channels', 'delivery'],
};

/** Every relative import of a source file, as the src/ folder it lands in. */
function importedFolders(file: string): Array<{ specifier: string; folder: string }> {
  const text = readFileSync(join(SRC, file), 'utf8');
  const found = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    const specifier = match[1] ?? '';
    const target = relative(SRC, resolve(dirname(join(SRC, file)), specifier));
    found.push({ specifier, folder: target.split(/[\\/]/)[0] ?? '' });
  }
  return found;
}

test('no source folder imports from a folder above it (channels never import http/)', () => {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  const wrong: string[] = [];
  for (const file of files) {
    const forbidden = FORBIDDEN[file.split(/[\\/]/)[0] ?? ''];
    if (!forbidden) continue;
    for (const { specifier, folder } of importedFolders(file)) if (forbidden.includes(folder)) wrong.push(`${file} imports ${specifier}`);
  }
  assert.deepEqual(wrong, []);
});

test('the scan sees an import into http/ (it can fail)', () => {
  const files = readdirSync(join(SRC, 'http'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  const folders = files.flatMap((file) => importedFolders(join('http', file)).map((found) => found.folder));
  assert.ok(folders.includes('channels') || folders.includes('core'), 'http/ files import channels/ or core/');
});

test('the environment is read in config/ only: no other folder touches process.env or the EnvReader', () => {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts') && !file.startsWith('config'));
  const wrong = files.filter((file) => /process\.env|env-reader\.ts/.test(readFileSync(join(SRC, file), 'utf8')));
  assert.deepEqual(wrong, [], 'read the variable in config/ and pass it in the Config');
});

/**
 * A call of one of the store's writes (on `store`, `context.store`, `store.cluster`…). Channels deliver
 * and say what happened; delivery state is written by the dispatcher's ledger (delivery/ledger-writer.ts),
 * events by the sources, instances by their service (instances/instance-service.ts).
 */
const STORE_WRITES = /\bstore\.(?:cluster\??\.)?(append|prune|createInstance|updateInstance|editChannels|deleteInstance|saveDeliveries|deleteDestination|initCursor|fence|claim|renew|release|heartbeat|leave)\(/;

test('channels never write to the store: delivery state goes through the ledger writer', () => {
  const files = readdirSync(join(SRC, 'channels'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  assert.ok(files.length > 20, 'the scan sees the channels');
  const wrong = files.filter((file) => STORE_WRITES.test(readFileSync(join(SRC, 'channels', file), 'utf8')));
  assert.deepEqual(wrong, [], 'write through context.dispatcher.ledger (or the dispatcher), not the store');
});

test('the store-write scan sees the writes where they are (it can fail)', () => {
  const ledger = readFileSync(join(SRC, 'delivery', 'ledger-writer.ts'), 'utf8');
  assert.match(ledger, STORE_WRITES);
});
