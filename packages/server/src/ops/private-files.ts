import * as nodeFs from 'node:fs';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';

/** The file-system calls privateDir makes: a test can make them fail as they do for another user's folder. */
export type DirFs = Pick<typeof nodeFs, 'mkdirSync' | 'chmodSync' | 'statSync' | 'accessSync'>;

/** A folder Pombo cannot use (not creatable, not a folder, not writable): `problem` says what, for the operator. */
export class PrivateDirError extends Error {
  constructor(
    readonly dir: string,
    readonly problem: string,
  ) {
    super(`${dir} ${problem}`);
    this.name = 'PrivateDirError';
  }
}

/** A file in Pombo's folders it cannot use (another user's, unreadable, a folder): `problem` says what, for the operator. */
export class PrivateFileError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file} ${problem}`);
    this.name = 'PrivateFileError';
  }
}

/** `EACCES: permission denied`, without the call and path Node adds (the message names the folder already). */
const errnoOf = (error: unknown): string => {
  const { code, message } = error as NodeJS.ErrnoException;
  return code ?? message;
};

/** The user Pombo runs as, for messages: `uid 1000`. */
const runningAs = (): string => (process.getuid ? `uid ${process.getuid()}` : 'this user');

/**
 * Pombo's data folder holds the API key, instance tokens, webhook secrets and message bodies: only
 * the user Pombo runs as may read it. Folders are made 700 and files 600, whatever the umask, and
 * ones left by an older start are narrowed too. A folder of another user (a volume mounted as root)
 * cannot be narrowed: that is no reason to refuse it, but one that others may read is worth a
 * warning, returned. One Pombo cannot write in throws PrivateDirError.
 */
export function privateDir(dir: string, { narrow = true, fs = nodeFs as DirFs } = {}): string | undefined {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new PrivateDirError(dir, `cannot be created (${errnoOf(error)})`);
  }
  if (!fs.statSync(dir).isDirectory()) throw new PrivateDirError(dir, 'is not a folder');
  const warning = narrow ? narrowDir(dir, fs) : undefined;
  try {
    fs.accessSync(dir, nodeFs.constants.W_OK | nodeFs.constants.X_OK);
  } catch (error) {
    throw new PrivateDirError(dir, `is not writable by the user Pombo runs as (${runningAs()}; ${errnoOf(error)}): give that user the folder, or run Pombo as its owner`);
  }
  return warning;
}

/** Makes `dir` 700; a folder Pombo does not own stays as it is, with a warning when other users may open it. */
function narrowDir(dir: string, fs: DirFs): string | undefined {
  try {
    fs.chmodSync(dir, 0o700);
    return undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw new PrivateDirError(dir, `cannot be made private (${errnoOf(error)})`);
  }
  const mode = fs.statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  return `${dir} belongs to another user and could not be made private (mode ${mode.toString(8)}): other users have access to it (Pombo's files in it are 600 all the same). Give it to the user Pombo runs as (${runningAs()}), or make it 700.`;
}

/** What the operator does about a file Pombo cannot use, from the error the system gave. */
function fileProblem(error: unknown): string {
  const reason = errnoOf(error);
  const fix = `give it to the user Pombo runs as (${runningAs()}), or remove it`;
  if (reason === 'EPERM') return `belongs to another user, so Pombo cannot make it private (EPERM): ${fix}`;
  if (reason === 'EACCES') return `cannot be read or written by the user Pombo runs as (EACCES): ${fix}`;
  return `cannot be used (${reason}): ${fix}`;
}

/** Runs `use` on `file`; a system error becomes a PrivateFileError naming the file and what to do. */
function onFile<T>(file: string, use: () => T): T {
  try {
    return use();
  } catch (error) {
    if (error instanceof PrivateFileError) throw error;
    throw new PrivateFileError(file, fileProblem(error));
  }
}

/** Makes an existing file 600; anything else at its path (a folder) is refused. */
function narrowFile(file: string): void {
  if (!statSync(file).isFile()) throw new PrivateFileError(file, 'is not a file (Pombo keeps a file there): remove it, or move it away');
  chmodSync(file, 0o600);
}

/** Creates `file` empty with mode 600 if it is missing, else narrows it to 600. Throws PrivateFileError. */
export function privateFile(file: string): void {
  onFile(file, () => (existsSync(file) ? narrowFile(file) : closeSync(openSync(file, 'a', 0o600))));
}

/** Narrows the files of `names` that exist to 600 (SQLite's -wal and -shm, created by SQLite itself). Throws PrivateFileError. */
export function narrowExisting(...files: string[]): void {
  for (const file of files) if (existsSync(file)) onFile(file, () => narrowFile(file));
}

/** An existing file's text, the file narrowed to 600 first. Throws PrivateFileError. */
export function readPrivateFile(file: string): string {
  return onFile(file, () => {
    narrowFile(file);
    return readFileSync(file, 'utf8');
  });
}
