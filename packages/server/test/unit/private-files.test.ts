import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateDir, PrivatePathError, type DirFs } from '../../src/ops/private-files.ts';

/** A folder the test owns, removed at its end. */
function tempDir(t: { after(fn: () => void): void }, mode?: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-private-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  if (mode !== undefined) fs.chmodSync(dir, mode);
  return dir;
}

/** An errno error as Node throws it. */
const errno = (code: string, syscall: string, path: string) => Object.assign(new Error(`${code}: operation failed, ${syscall} '${path}'`), { code, syscall, path });

/** The real calls, except chmod, which fails as it does on a folder of another user. */
const notOwner: DirFs = {
  ...fs,
  chmodSync: (path) => {
    throw errno('EPERM', 'chmod', String(path));
  },
};

test('a folder of its own is made 700', (t) => {
  const dir = tempDir(t, 0o755);
  assert.equal(privateDir(dir), undefined);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
});

test("another user's folder (chmod refused): used as it is, with a warning when other users have access to it", (t) => {
  const open = tempDir(t, 0o755);
  // Not root, the machine's own /tmp is such a folder (root's, sticky): chmod on it fails with EPERM.
  const [dir, calls] = process.getuid?.() === 0 ? [open, notOwner] : ['/tmp', fs];
  const warning = privateDir(dir, { fs: calls });
  assert.match(warning ?? '', /belongs to another user and could not be made private \(mode \d+\)/);
  assert.ok(warning?.includes(dir));
  assert.equal(privateDir(tempDir(t, 0o700), { fs: notOwner }), undefined, 'a folder that is private already: nothing to say');
});

test('a folder Pombo cannot write in: PrivatePathError saying so, with the user it runs as', (t) => {
  // Not root, /usr is root's and not writable; root writes anywhere: the refusal a normal user gets is injected.
  const injected: DirFs = { ...notOwner, accessSync: (path) => { throw errno('EACCES', 'access', String(path)); } };
  const [dir, calls] = process.getuid?.() === 0 ? [tempDir(t, 0o555), injected] : ['/usr', fs];
  assert.throws(
    () => privateDir(dir, { fs: calls }),
    (error: unknown) => error instanceof PrivatePathError && error.path === dir && /is not writable by the user Pombo runs as \(uid \d+; EACCES\)/.test(error.message),
  );
});

test('a path that is a file, or under one: PrivatePathError saying what is wrong and what to do, without the raw call', (t) => {
  const file = join(tempDir(t), 'a-file');
  writeFileSync(file, '');
  assert.throws(
    () => privateDir(file),
    (error: unknown) => error instanceof PrivatePathError && error.path === file && /cannot be created \(EEXIST\)|is not a folder/.test(error.problem) && /choose another folder/.test(error.fix),
  );
  assert.throws(
    () => privateDir(join(file, 'data')),
    (error: unknown) =>
      error instanceof PrivatePathError && /cannot be created \(ENOTDIR\): create it for the user Pombo runs as \(uid \d+\), or choose another folder$/.test(error.message),
  );
});

test('a chmod that fails for another reason than ownership is not swallowed', (t) => {
  const dir = tempDir(t);
  const failing: DirFs = { ...fs, chmodSync: (path) => { throw errno('EIO', 'chmod', String(path)); } };
  assert.throws(() => privateDir(dir, { fs: failing }), (error: unknown) => error instanceof PrivatePathError && /cannot be made private \(EIO\)/.test(error.message));
});

test('a folder on a read-only mount, private or not: refused saying it is read-only and to mount it writable, not to give it to another user', (t) => {
  // A read-only mount needs root to make: the system's refusals (chmod and the write check) are injected.
  const readOnly: DirFs = {
    ...fs,
    chmodSync: (path) => { throw errno('EROFS', 'chmod', String(path)); },
    accessSync: (path) => { throw errno('EROFS', 'access', String(path)); },
  };
  for (const mode of [0o700, 0o755]) {
    const dir = tempDir(t, mode);
    for (const narrow of [true, false]) {
      assert.throws(
        () => privateDir(dir, { narrow, fs: readOnly }),
        (error: unknown) => error instanceof PrivatePathError && /is on a read-only mount \(EROFS\), and Pombo writes in it: mount it writable/.test(error.message),
        `mode ${mode.toString(8)}, narrow ${narrow}`,
      );
    }
  }
});
