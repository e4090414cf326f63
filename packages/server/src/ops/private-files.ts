import * as nodeFs from 'node:fs';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';

/** The file-system calls privateDir makes: a test can make them fail as they do for another user's folder. */
export type DirFs = Pick<typeof nodeFs, 'mkdirSync' | 'chmodSync' | 'statSync' | 'accessSync'>;

/**
 * A folder or file of Pombo's it cannot use (not creatable, another user's, unreadable, a folder in a
 * file's place): `problem` says what is wrong with `path` and `fix` what the operator does about it.
 */
export class PrivatePathError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${path} ${problem}: ${fix}`);
    this.name = 'PrivatePathError';
  }
}

/** `EACCES: permission denied`, without the call and path Node adds (the message names the folder already). */
const errnoOf = (error: unknown): string => {
  const { code, message } = error as NodeJS.ErrnoException;
  return code ?? message;
};

/** Whether `error` is the system's refusal to change anything on a read-only mount (a `:ro` bind, a Kubernetes secret). */
const onReadOnlyMount = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'EROFS';

/** A folder on a read-only mount: Pombo writes in its folders (the SQLite database, sandbox media, a generated API key). */
const readOnlyDir = (dir: string): PrivatePathError =>
  new PrivatePathError(dir, 'is on a read-only mount (EROFS), and Pombo writes in it', 'mount it writable; an API key kept in a secret goes in AUTHENTICATION_API_KEY, or its file alone mounted in the folder');

/** The user Pombo runs as, for messages: `uid 1000`. */
const runningAs = (): string => (process.getuid ? `uid ${process.getuid()}` : 'this user');

/**
 * Pombo's data folder holds the API key, instance tokens, webhook secrets and message bodies: only
 * the user Pombo runs as may read it. Folders are made 700 and files 600, whatever the umask, and
 * ones left by an older start are narrowed too. A folder of another user (a volume mounted as root)
 * cannot be narrowed: that is no reason to refuse it, but one that others may read is worth a
 * warning, returned. One Pombo cannot write in throws PrivatePathError.
 */
export function privateDir(dir: string, { narrow = true, fs = nodeFs as DirFs } = {}): string | undefined {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new PrivatePathError(dir, `cannot be created (${errnoOf(error)})`, `create it for the user Pombo runs as (${runningAs()}), or choose another folder`);
  }
  if (!fs.statSync(dir).isDirectory()) throw new PrivatePathError(dir, 'is not a folder', 'remove what is there, or choose another folder');
  const warning = narrow ? narrowDir(dir, fs) : undefined;
  try {
    fs.accessSync(dir, nodeFs.constants.W_OK | nodeFs.constants.X_OK);
  } catch (error) {
    if (onReadOnlyMount(error)) throw readOnlyDir(dir);
    throw new PrivatePathError(dir, `is not writable by the user Pombo runs as (${runningAs()}; ${errnoOf(error)})`, 'give that user the folder, or run Pombo as its owner');
  }
  return warning;
}

/** Makes `dir` 700; a folder Pombo does not own stays as it is, with a warning when other users may open it. */
function narrowDir(dir: string, fs: DirFs): string | undefined {
  try {
    fs.chmodSync(dir, 0o700);
    return undefined;
  } catch (error) {
    if (onReadOnlyMount(error)) throw readOnlyDir(dir);
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw new PrivatePathError(dir, `cannot be made private (${errnoOf(error)})`, 'make it 700, or choose another folder');
  }
  const mode = fs.statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  return `${dir} belongs to another user and could not be made private (mode ${mode.toString(8)}): other users have access to it (Pombo's files in it are 600 all the same). Give it to the user Pombo runs as (${runningAs()}), or make it 700.`;
}

/** The PrivatePathError of a file Pombo cannot use, from the error the system gave: what is wrong and what the operator does. */
function fileError(file: string, error: unknown): PrivatePathError {
  const reason = errnoOf(error);
  const fix = `give it to the user Pombo runs as (${runningAs()}), or remove it`;
  if (reason === 'EPERM') return new PrivatePathError(file, 'belongs to another user, so Pombo cannot make it private (EPERM)', fix);
  if (reason === 'EACCES') return new PrivatePathError(file, 'cannot be read or written by the user Pombo runs as (EACCES)', fix);
  return new PrivatePathError(file, `cannot be used (${reason})`, fix);
}

/** Runs `use` on `file`; a system error becomes a PrivatePathError naming the file and what to do. */
function onFile<T>(file: string, use: () => T): T {
  try {
    return use();
  } catch (error) {
    if (error instanceof PrivatePathError) throw error;
    throw fileError(file, error);
  }
}

/**
 * Makes an existing file 600; anything else at its path (a folder) is refused. A file on a read-only
 * mount (an API key from a secret) cannot be narrowed: it is used as it is when private already, and
 * refused when other users may read it, since only the source of the mount can change that.
 */
function narrowFile(file: string): void {
  if (!statSync(file).isFile()) throw new PrivatePathError(file, 'is not a file (Pombo keeps a file there)', 'remove it, or move it away');
  try {
    chmodSync(file, 0o600);
  } catch (error) {
    if (!onReadOnlyMount(error)) throw error;
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) === 0) return;
    throw new PrivatePathError(
      file,
      `is on a read-only mount (EROFS), where Pombo cannot make it private, and other users may read it (mode ${mode.toString(8)})`,
      'make it 600 or 400 at the source of the mount (for a Kubernetes secret, the mode of its volume), or mount it writable',
    );
  }
}

/** Creates `file` empty with mode 600 if it is missing, else narrows it to 600. Throws PrivatePathError. */
export function privateFile(file: string): void {
  onFile(file, () => (existsSync(file) ? narrowFile(file) : closeSync(openSync(file, 'a', 0o600))));
}

/** Narrows the files of `names` that exist to 600 (SQLite's -wal and -shm, created by SQLite itself). Throws PrivatePathError. */
export function narrowExisting(...files: string[]): void {
  for (const file of files) if (existsSync(file)) onFile(file, () => narrowFile(file));
}

/** An existing file's text, the file narrowed to 600 first. Throws PrivatePathError. */
export function readPrivateFile(file: string): string {
  return onFile(file, () => {
    narrowFile(file);
    return readFileSync(file, 'utf8');
  });
}
