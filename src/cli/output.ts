/**
 * Output files of the command (`export --out`, `hints --out`, `snapshot --hints-out`): "-" is
 * standard output; anything else is written whole under a partial-output name (partial.ts),
 * fsynced and renamed into place, and may only replace a regular file: a symbolic link, FIFO,
 * device, socket or directory at that path is refused before anything is written.
 */
import { once } from 'node:events';
import type { Stats } from 'node:fs';
import { lstat, open, rename, stat, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { syncDir } from '../durable-file.js';
import { errorCode } from '../errors.js';
import { UsageError } from './args.js';
import { FileSystemError, onFile } from './file-errors.js';
import {
  cleanStalePartials,
  partialPathFor,
  removePartial,
  trackPartial,
  untrackPartial,
} from './partial.js';
import { interruption, throwIfInterrupted } from './signals.js';

/** The output path that means standard output. */
export const STDOUT = '-';

/** An output path names something other than a regular file: nothing was written. */
export class OutputNotRegularFileError extends UsageError {
  readonly path: string;
  readonly kind: string;
  constructor(flag: string, path: string, kind: string) {
    super(
      `${flag} ${path} is ${kind}; ${flag} writes a new file or replaces a regular file (it ` +
        'writes a temporary file and renames it over the path), so it would replace this ' +
        `with a regular file: give a file path${flag === '--out' ? ', or "-" for standard output' : ''}; ` +
        'nothing was written',
    );
    this.path = path;
    this.kind = kind;
  }
}

/** Binary output to a terminal was asked for. */
export class OutputIsTerminalError extends UsageError {
  constructor(flag: string) {
    super(
      `${flag} - would write binary data to a terminal: redirect standard output to a file or ` +
        'a pipe',
    );
  }
}

/** Binary input from a terminal was asked for (`-` as an input file while stdin is a TTY). */
export class InputIsTerminalError extends UsageError {
  constructor(flag: string, what: string, example: string) {
    super(
      `${flag} - reads ${what} from standard input, which is a terminal: pipe or redirect ` +
        `${what} into it (e.g. ${example})`,
    );
  }
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Throws OutputNotRegularFileError unless `path` does not exist or is a regular file (not
 * through a symbolic link), and a FileSystemError when its directory does not exist.
 */
export async function assertReplaceableOutput(path: string, flag: string): Promise<void> {
  const target = resolve(path);
  let st: Stats;
  try {
    st = await lstat(target);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') {
      throw new FileSystemError('access', target, err, flag);
    }
    const parent = dirname(target);
    const dir = await onFile('write into the directory', parent, () => stat(parent), flag);
    if (!dir.isDirectory()) {
      throw new OutputNotRegularFileError(
        flag,
        target,
        `inside ${parent}, which is not a directory`,
      );
    }
    return;
  }
  if (!st.isFile()) throw new OutputNotRegularFileError(flag, target, kindOf(st));
}

export interface OutputFileOptions {
  /** The option that named the file, for messages ("--out"). */
  flag: string;
  signal?: AbortSignal;
}

/**
 * Writes `out` whole: checks it may be replaced, removes stale partial outputs next to it, lets
 * `fill` write a partial file, fsyncs it, checks again and renames it over `out` (then fsyncs
 * the directory). On failure or interruption the partial file is removed and `out` is untouched.
 */
export async function writeOutputFile<T>(
  out: string,
  options: OutputFileOptions,
  fill: (handle: FileHandle) => Promise<T>,
): Promise<T> {
  const target = resolve(out);
  const { flag } = options;
  await assertReplaceableOutput(target, flag);
  await cleanStalePartials(dirname(target));
  const temp = partialPathFor(target);
  const handle = await onFile('create', temp, () => open(temp, 'wx', 0o666), flag);
  trackPartial(temp);
  let renamed = false;
  try {
    let result: T;
    try {
      result = await onFile('write', temp, () => fill(handle), flag);
      throwIfInterrupted(options.signal);
      await onFile('fsync', temp, () => handle.sync(), flag);
    } finally {
      await handle.close();
    }
    throwIfInterrupted(options.signal);
    // Again, just before replacing it: something may have appeared there meanwhile.
    await assertReplaceableOutput(target, flag);
    await onFile('rename the finished output to', target, () => rename(temp, target), flag);
    renamed = true;
    untrackPartial(temp);
    await onFile('fsync the directory', dirname(target), () => syncDir(dirname(target)), flag);
    return result;
  } finally {
    if (!renamed) await removePartial(temp);
  }
}

/** Writes all of `bytes` to a file handle, looping over short writes. */
export async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
    written += bytesWritten;
  }
}

/** A writable stream such as process.stdout. */
export interface OutputStream extends NodeJS.EventEmitter {
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
}

/**
 * Writes `bytes` to `stream` (e.g. standard output), waiting while it asks to (backpressure), so
 * that memory stays bounded however slowly it is read. Aborting `signal` stops the wait at once:
 * a reader that stops reading a pipe cannot keep the command from being interrupted.
 */
export async function writeToStream(
  stream: OutputStream,
  bytes: Uint8Array,
  signal?: AbortSignal,
): Promise<void> {
  throwIfInterrupted(signal);
  if (stream.write(bytes)) return;
  try {
    await once(stream, 'drain', { signal });
  } catch (err) {
    if (signal?.aborted === true) throw interruption(signal);
    throw err;
  }
}
