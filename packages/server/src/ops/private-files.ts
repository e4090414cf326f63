import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';

/**
 * Pombo's data folder holds the API key, instance tokens, webhook secrets and message bodies: only
 * the user Pombo runs as may read it. Folders are made 700 and files 600, whatever the umask, and
 * ones left by an older start are narrowed too.
 */
export function privateDir(dir: string, { narrow = true } = {}): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (narrow) chmodSync(dir, 0o700);
}

/** Creates `file` empty with mode 600 if it is missing, else narrows it to 600. */
export function privateFile(file: string): void {
  if (existsSync(file)) chmodSync(file, 0o600);
  else closeSync(openSync(file, 'a', 0o600));
}

/** Narrows the files of `names` that exist to 600 (SQLite's -wal and -shm, created by SQLite itself). */
export function narrowExisting(...files: string[]): void {
  for (const file of files) if (existsSync(file)) chmodSync(file, 0o600);
}
