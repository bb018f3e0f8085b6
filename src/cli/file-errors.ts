/**
 * Operating-system errors (EACCES, ENOENT, ENOSPC, ...) met by the command, as one typed error
 * that names the file, what was being done to it, which option it came from, and what to do.
 */
import { errorCode, errorMessage, RecoveryLogError } from '../errors.js';

/** What a person can do about each errno. */
const ADVICE: Readonly<Record<string, string>> = {
  ENOENT: 'check the path: it, or a directory above it, does not exist',
  ENOTDIR: 'check the path: a part of it that must be a directory is a file',
  EISDIR: 'it is a directory where a file is needed: give a file path',
  EACCES:
    'check the permissions of the file and of the directories above it, or run as a user ' +
    'allowed to use it',
  EPERM:
    'check the permissions and attributes (e.g. immutable) of the file and its directory, or ' +
    'run as a user allowed to use it',
  EROFS: 'the file system is mounted read-only: choose a location on writable storage',
  ENOSPC: 'the disk is full: free space (or choose another disk) and run the command again',
  EDQUOT: 'the disk quota is exhausted: free space or raise the quota, then run again',
  EEXIST: 'something already exists at that path: remove it or choose another path',
  ENOTEMPTY: 'the directory is not empty: empty or remove it, or choose another path',
  EMFILE: 'too many open files: raise the limit (ulimit -n) and run again',
  ENFILE: 'the system is out of file handles: close other programs and run again',
  EIO: 'an I/O error: the disk may be failing; check the system log (dmesg) and the disk',
  EBUSY: 'the file or device is busy: stop what uses it and run again',
  ELOOP: 'too many symbolic links: check for a symbolic link loop in the path',
  ENAMETOOLONG: 'the name is too long: choose a shorter path',
  EXDEV: 'the paths are on different file systems: keep them on one',
  EPIPE: 'the reading end of the pipe was closed before everything was written',
  EINVAL: 'the operating system refused the request: check the path and the file type',
};

/** An operating-system error on a named file (exit status 1). */
export class FileSystemError extends RecoveryLogError {
  readonly path: string;
  /** The errno code, e.g. "EACCES" (undefined if the cause had none). */
  readonly errno: string | undefined;
  readonly action: string;
  /** `dest`: the second path of a two-path call (rename, link), if any. */
  constructor(action: string, path: string, cause: unknown, role?: string, dest?: string) {
    const errno = errnoOf(cause);
    const detail = describe(cause);
    const advice =
      (errno !== undefined ? ADVICE[errno] : undefined) ?? 'check the file and run again';
    super(
      `cannot ${action} ${path}${dest === undefined ? '' : ` to ${dest}`}` +
        `${role === undefined ? '' : ` (${role})`}: ${detail}; ${advice}`,
      { cause },
    );
    this.path = path;
    this.errno = errno;
    this.action = action;
  }
}

/** The errno code of an operating-system error ("ENOENT"), or undefined. */
export function errnoOf(err: unknown): string | undefined {
  const code = errorCode(err);
  return code !== undefined && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** "no such file or directory (ENOENT)" from Node's "ENOENT: no such file ..., open '/x'". */
function describe(cause: unknown): string {
  const errno = errnoOf(cause);
  const message = errorMessage(cause);
  if (errno === undefined) return message;
  const match = /^E[A-Z0-9]+: ([^,]+)/.exec(message);
  return `${match?.[1] ?? message} (${errno})`;
}

/**
 * Runs `step`; an operating-system error it throws becomes a FileSystemError naming `path`
 * (errors of this library pass through unchanged).
 */
export async function onFile<T>(
  action: string,
  path: string,
  step: () => Promise<T>,
  role?: string,
): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw asFileError(err, action, path, role);
  }
}

/** `err` as a FileSystemError when it is an untyped operating-system error, else unchanged. */
export function asFileError(err: unknown, action: string, path: string, role?: string): unknown {
  if (err instanceof RecoveryLogError || errnoOf(err) === undefined) return err;
  return new FileSystemError(action, path, err, role);
}

/**
 * The last line of defence: an operating-system error that reached the dispatcher untyped
 * becomes a FileSystemError naming the file Node reported (and the system call).
 */
export function typedError(err: unknown): unknown {
  if (err instanceof RecoveryLogError || errnoOf(err) === undefined) return err;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  const path = e.path ?? '(a file the operating system did not name)';
  return new FileSystemError(e.syscall ?? 'use', path, err, undefined, e.dest);
}
