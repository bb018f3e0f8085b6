/**
 * RecordedFs: Node's `fs/promises` over a base file system (node:fs `promises`, or a memfs
 * Volume's `promises`), recording every mutation under the Recorder's directory.
 *
 * The whole fs/promises surface is here, with Node's signatures, options and return types:
 * - recorded: open (for writing), writeFile, appendFile, rename (files and directories), link,
 *   unlink, rm (-r too), truncate, copyFile, cp, chmod, lchmod, mkdir, mkdtemp, rmdir, and through
 *   handles write, writev, writeFile, appendFile, createWriteStream, truncate, chmod; modes given
 *   to creates are recorded (extension ops for modes, truncation and directories);
 * - passed through (they change nothing a recovery log holds): access, stat, lstat, readdir,
 *   readFile, readlink, realpath, opendir, statfs, watch, open (read-only);
 * - refused with NotSupportedError before anything is touched, where the log cannot express the
 *   call: ownership, times, symbolic links.
 *
 * Methods are bound to the instance (destructuring, proxies and Object.create(rfs) work), and
 * `asNodeFs()` gives the callback-style `fs` object some libraries take. Order of every mutating
 * call: validate and throw a typed error before touching anything; perform the real call; record
 * exactly what happened, synchronously after it succeeded. A failed real call records nothing.
 */
import { constants as fsConstants, type PathLike } from 'node:fs';
import type * as fsp from 'node:fs/promises';
import type { Stream } from 'node:stream';
import type { Recorder, WaitOptions } from './recorder.js';
import { checkRerecordPolicy, type RerecordPolicy, type RerecordResult } from './rerecord.js';
import type { FSMHints } from './wire/types.js';
import { getOptions, mutationPath, writeSource } from './recorded-fs/args.js';
import { bindMethods } from './recorded-fs/bind.js';
import { copyFile, cp, type CpOptions } from './recorded-fs/copy.js';
import { FsCore } from './recorded-fs/core.js';
import { accessMode, parseMode, type OpenFlags } from './recorded-fs/flags.js';
import { RecordedFileHandle } from './recorded-fs/handle.js';
import * as metadata from './recorded-fs/metadata.js';
import * as namespace from './recorded-fs/namespace.js';
import { createNodeFs, type RecordedNodeFs } from './recorded-fs/node-fs.js';
import { checkAborted, notSupported } from './recorded-fs/node-errors.js';
import * as rerecordOps from './recorded-fs/rerecord-ops.js';
import type { BaseFs } from './recorded-fs/types.js';

export { RecordedFileHandle } from './recorded-fs/handle.js';
export type { AccessMode, OpenFlags } from './recorded-fs/flags.js';
export type { BaseFileHandle, BaseFs, BaseStats } from './recorded-fs/types.js';
export type { CpOptions } from './recorded-fs/copy.js';
export type { RecordedNodeFs } from './recorded-fs/node-fs.js';

export interface RecordedFsOptions {
  /**
   * Re-record long-lived files before building hints (see buildHints() and RerecordPolicy), so
   * that no live file keeps more than about `maxPinnedBytes` of log from being pruned.
   */
  rerecord?: RerecordPolicy;
  /**
   * Whether the base applies the process umask to the files and directories it creates, as
   * node:fs does (memfs does not). Modes are checked against the permissions a create without
   * a mode gives. Default: true for node:fs's `promises`, false for any other base.
   */
  appliesUmask?: boolean;
}

/** What writeFile and appendFile write: Node's data types (any ArrayBufferView byte-exactly). */
export type FileData =
  | string
  | NodeJS.ArrayBufferView
  | Iterable<string | NodeJS.ArrayBufferView>
  | AsyncIterable<string | NodeJS.ArrayBufferView>
  | Stream;

export interface WriteFileOptions {
  encoding?: BufferEncoding | null;
  flag?: OpenFlags;
  /** Permission bits of a created file (recorded). */
  mode?: number | string;
  signal?: AbortSignal;
  flush?: boolean;
}

type ReadFileOptions = { encoding?: BufferEncoding | null; flag?: OpenFlags; signal?: AbortSignal };

const cores = new WeakMap<RecordedFs, FsCore>();
const nodeFsObjects = new WeakMap<RecordedFs, RecordedNodeFs>();

function coreOf(rfs: RecordedFs): FsCore {
  const core = cores.get(rfs);
  if (core === undefined) throw new TypeError('not a RecordedFs (call methods on the instance)');
  return core;
}

/** A call the base answers itself (NotSupportedError when the base lacks it). */
function passThrough<K extends string>(base: BaseFs, name: K): (...args: unknown[]) => unknown {
  return (...args: unknown[]) => {
    const fn = (base as unknown as Record<string, unknown>)[name];
    if (typeof fn !== 'function') {
      return notSupported(name, `the base file system has no ${name}`);
    }
    return (fn as (...a: unknown[]) => unknown).apply(base, args);
  };
}

/** writeFile and appendFile (by path, or through a RecordedFileHandle). */
async function write(
  core: FsCore,
  path: unknown,
  data: unknown,
  options: unknown,
  defaultFlag: string,
): Promise<void> {
  const opts = getOptions<WriteFileOptions>(options, { encoding: 'utf8' });
  const source = writeSource(data, opts.encoding, opts.signal);
  if (path instanceof RecordedFileHandle) return path.writeFile(data, opts);
  mutationPath(path);
  checkAborted(opts.signal);
  const handle = await core.open(path, opts.flag || defaultFlag, parseMode(opts.mode));
  try {
    if (source instanceof Uint8Array) {
      await handle._writeAll(source);
    } else {
      for await (const chunk of source) await handle._writeAll(chunk);
    }
    if (opts.flush === true) await handle.sync();
  } finally {
    await handle.close();
  }
}

export class RecordedFs {
  readonly recorder: Recorder;
  readonly base: BaseFs;
  /** fs.constants, as fs/promises exports it. */
  readonly constants: typeof fsConstants = fsConstants;
  // Passed through to the base: they change nothing a recovery log holds.
  readonly access: typeof fsp.access;
  readonly stat: typeof fsp.stat;
  readonly lstat: typeof fsp.lstat;
  readonly readdir: typeof fsp.readdir;
  readonly readlink: typeof fsp.readlink;
  readonly realpath: typeof fsp.realpath;
  readonly opendir: typeof fsp.opendir;
  readonly statfs: typeof fsp.statfs;
  readonly watch: typeof fsp.watch;

  constructor(recorder: Recorder, base: BaseFs, options: RecordedFsOptions = {}) {
    this.recorder = recorder;
    this.base = base;
    const policy =
      options.rerecord === undefined ? undefined : checkRerecordPolicy(options.rerecord);
    cores.set(this, new FsCore(recorder, base, policy, options.appliesUmask));
    const pass = <T>(name: string): T => passThrough(base, name) as T;
    this.access = pass('access');
    this.stat = pass('stat');
    this.lstat = pass('lstat');
    this.readdir = pass('readdir');
    this.readlink = pass('readlink');
    this.realpath = pass('realpath');
    this.opendir = pass('opendir');
    this.statfs = pass('statfs');
    this.watch = pass('watch');
    bindMethods(this, RecordedFs.prototype);
  }

  /**
   * Opens like fsPromises.open. Read-only opens record nothing. Opens that can change the file
   * must be under the recorder's directory; a truncating open records a new, empty file.
   */
  open(path: PathLike, flags?: OpenFlags, mode?: number | string): Promise<RecordedFileHandle> {
    return coreOf(this).open(path, flags, mode);
  }

  /** Replaces the file at `path` (flag 'w' unless given) with `data`, or writes to a handle. */
  async writeFile(
    path: PathLike | RecordedFileHandle,
    data: FileData,
    options?: WriteFileOptions | BufferEncoding | null,
  ): Promise<void> {
    return write(coreOf(this), path, data, options, 'w');
  }

  /** Appends `data` to the file at `path` (flag 'a' unless given). */
  async appendFile(
    path: PathLike | RecordedFileHandle,
    data: FileData,
    options?: WriteFileOptions | BufferEncoding | null,
  ): Promise<void> {
    return write(coreOf(this), path, data, options, 'a');
  }

  /**
   * Reads like fsPromises.readFile (a Buffer, or a string with an encoding). Reads pass through
   * to the base; a flag that creates or truncates ('w+', 'a+', ...) opens through RecordedFs.
   */
  readFile(
    path: PathLike | RecordedFileHandle,
    options?: ({ encoding?: null } & Omit<ReadFileOptions, 'encoding'>) | null,
  ): Promise<Buffer>;
  readFile(
    path: PathLike | RecordedFileHandle,
    options: ({ encoding: BufferEncoding } & Omit<ReadFileOptions, 'encoding'>) | BufferEncoding,
  ): Promise<string>;
  readFile(
    path: PathLike | RecordedFileHandle,
    options?: ReadFileOptions | BufferEncoding | null,
  ): Promise<string | Buffer>;
  async readFile(path: unknown, options?: unknown): Promise<string | Buffer> {
    const opts = getOptions<ReadFileOptions>(options, {});
    if (path instanceof RecordedFileHandle) return path.readFile(opts);
    const access = accessMode(opts.flag);
    const core = coreOf(this);
    if (!access.create && !access.truncate) {
      return (
        core.base.readFile as unknown as (p: unknown, o: unknown) => Promise<Buffer | string>
      )(path, options);
    }
    checkAborted(opts.signal);
    const handle = await core.open(path, opts.flag, undefined);
    try {
      return await handle.readFile(opts);
    } finally {
      await handle.close();
    }
  }

  /** Renames a file or a directory (see namespace.rename). */
  rename(oldPath: PathLike, newPath: PathLike): Promise<void> {
    return namespace.rename(coreOf(this), oldPath, newPath);
  }

  /** Adds a hard link `newPath` to the file at `existingPath`. */
  link(existingPath: PathLike, newPath: PathLike): Promise<void> {
    return namespace.link(coreOf(this), existingPath, newPath);
  }

  /** Removes a file. */
  unlink(path: PathLike): Promise<void> {
    return namespace.unlink(coreOf(this), path);
  }

  /** Removes a file, or (recursive) a directory and everything in it. */
  rm(path: PathLike, options?: namespace.RmOptions): Promise<void> {
    return namespace.rm(coreOf(this), path, options);
  }

  /** Removes an empty directory (recorded if it was). */
  rmdir(
    path: PathLike,
    options?: { recursive?: boolean; maxRetries?: number; retryDelay?: number },
  ): Promise<void> {
    return namespace.rmdir(coreOf(this), path, options);
  }

  /** Creates a directory (recorded with its mode; with `recursive`, each one it made). */
  mkdir(
    path: PathLike,
    options: { recursive: true; mode?: number | string },
  ): Promise<string | undefined>;
  mkdir(
    path: PathLike,
    options?: { recursive?: false; mode?: number | string } | number | string | null,
  ): Promise<undefined>;
  mkdir(
    path: PathLike,
    options?: { recursive?: boolean; mode?: number | string } | number | string | null,
  ): Promise<string | undefined>;
  mkdir(
    path: PathLike,
    options?: { recursive?: boolean; mode?: number | string } | number | string | null,
  ): Promise<string | undefined> {
    return metadata.mkdir(coreOf(this), path, options);
  }

  /** Creates a unique directory under the recorded directory (recorded, with its mode 0700). */
  async mkdtemp(
    prefix: string,
    options?: BufferEncoding | { encoding?: BufferEncoding | null } | null,
  ): Promise<string> {
    return metadata.mkdtemp(coreOf(this), prefix, options);
  }

  /** Truncates or zero-extends a file to `len` bytes (recorded; see FsCore.truncateFnode). */
  truncate(path: PathLike, len?: number): Promise<void> {
    return metadata.truncate(coreOf(this), path, len);
  }

  /** Copies a file: records a new file with the copied bytes (COPYFILE_EXCL honoured). */
  copyFile(src: PathLike, dest: PathLike, mode?: number): Promise<void> {
    return copyFile(coreOf(this), src, dest, mode);
  }

  /** Copies like fsPromises.cp, recording every file and link it creates. */
  cp(src: string | URL, dest: string | URL, options?: CpOptions): Promise<void> {
    return cp(coreOf(this), src, dest, options);
  }

  symlink(..._args: unknown[]): Promise<never> {
    return notSupported('symlink', 'a recovery log records regular files and hard links only');
  }
  /** Changes the permission bits of a file or directory (recorded). */
  chmod(path: PathLike, mode: number | string): Promise<void> {
    return metadata.chmod(coreOf(this), path, mode);
  }
  /** As chmod (no symbolic link is ever recorded); only where the base has lchmod (macOS). */
  lchmod(path: PathLike, mode: number | string): Promise<void> {
    return metadata.chmod(coreOf(this), path, mode, 'lchmod');
  }
  chown(..._args: unknown[]): Promise<never> {
    return notSupported('chown', 'file ownership is not recorded');
  }
  lchown(..._args: unknown[]): Promise<never> {
    return notSupported('lchown', 'file ownership is not recorded');
  }
  utimes(..._args: unknown[]): Promise<never> {
    return notSupported('utimes', 'file times are not recorded');
  }
  lutimes(..._args: unknown[]): Promise<never> {
    return notSupported('lutimes', 'file times are not recorded');
  }

  /**
   * A callback-style `fs` module object over this RecordedFs (the same one on every call), for
   * libraries that take one: its functions call the methods here; `promises` is this object.
   */
  asNodeFs(): RecordedNodeFs {
    let nodeFs = nodeFsObjects.get(this);
    if (nodeFs === undefined) nodeFsObjects.set(this, (nodeFs = createNodeFs(this, coreOf(this))));
    return nodeFs;
  }

  // ----------------------------------------------------------------------------------------
  // Re-recording long-lived files (beyond Gazette; see rerecord.ts and recorded-fs/rerecord-ops.ts).

  /**
   * Re-records the file at `path`: its current bytes become a new file identity, with all its
   * hard links, in one append (Recorder.recordRerecord), so the log before it can be pruned once
   * no other live file needs it. The directory does not change. Atomic with respect to the
   * application: writes and truncations of the file wait behind it, and so the recorded bytes
   * are exactly the file's; calls that change what a path names wait while it opens the file.
   * Resolves undefined when the file was removed or replaced (truncated) while it waited: its
   * history then starts afresh anyway. The file is read into memory whole.
   */
  rerecord(path: string): Promise<RerecordResult | undefined> {
    return rerecordOps.rerecordPath(coreOf(this), path);
  }

  /**
   * Re-records the live files whose recorded history begins below `belowOffset` of the log,
   * lowest first, at most `maxFiles` of them (default: all), one after the other as
   * rerecord() does. Afterwards hints no longer need the log below `belowOffset` (unless more
   * files than `maxFiles` pinned it), and FileJournal.prune can delete the fragments there.
   */
  rerecordPinning(options: { belowOffset: number; maxFiles?: number }): Promise<RerecordResult[]> {
    return rerecordOps.rerecordPinning(coreOf(this), options);
  }

  /**
   * The Recorder's hints (Recorder.buildHints: only durable ops), after re-recording what the
   * `rerecord` policy given to the constructor asks for: the live files pinning more than
   * `maxPinnedBytes` of log besides their own bytes, lowest first, at most `maxFilesPerRun`.
   * Without a policy, the same as `recorder.buildHints()`.
   */
  buildHints(options?: WaitOptions): Promise<FSMHints> {
    return rerecordOps.buildHints(coreOf(this), options);
  }
}
