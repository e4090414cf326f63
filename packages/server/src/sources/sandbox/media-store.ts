import { createHash } from 'node:crypto';
import { readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { privateDir } from '../../ops/private-files.ts';

/**
 * The bytes of media messages sent through the sandbox, one file per content (named by its SHA-256),
 * so events carry only a reference (`fileSha256`, as WhatsApp's do) and a webhook that asked for
 * `base64` gets the bytes added when it is sent.
 */
export class MediaStore {
  private ready = false;

  constructor(private readonly dir: string) {}

  /** Stores the bytes (once per content) and returns their SHA-256 in base64, WhatsApp's `fileSha256`. */
  async save(bytes: Buffer): Promise<string> {
    const digest = createHash('sha256').update(bytes).digest();
    const file = join(this.dir, digest.toString('hex'));
    if (!this.ready) {
      privateDir(this.dir);
      this.ready = true;
    }
    // Written aside then renamed, so a crash never leaves a truncated file under the final name.
    const partial = `${file}.${process.pid}.partial`;
    await writeFile(partial, bytes, { mode: 0o600 });
    await rename(partial, file);
    return digest.toString('base64');
  }

  /** The bytes whose `fileSha256` this is, or undefined when Pombo does not hold them. */
  async read(fileSha256: string): Promise<Buffer | undefined> {
    const digest = Buffer.from(fileSha256, 'base64');
    if (digest.length !== 32) return undefined;
    try {
      return await readFile(join(this.dir, digest.toString('hex')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Deletes media stored before `before` (the events that referenced it are past retention too). */
  async prune(before: Date): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const file = join(this.dir, name);
      const info = await stat(file).catch(() => undefined);
      if (info && info.mtime < before) {
        await unlink(file).catch(() => undefined);
        removed++;
      }
    }
    return removed;
  }
}
