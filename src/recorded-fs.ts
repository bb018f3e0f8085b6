/**
 * RecordedFs: a Node `fs/promises`-shaped API over a base file system (node:fs `promises`, or a
 * memfs Volume's `promises`) that records every mutation under the Recorder's directory.
 *
 * Order of every mutating call: validate (paths, expressibility, recorder state) and throw a typed
 * error before touching anything; perform the real call; record exactly what happened (e.g. the
 * bytes actually written), synchronously after it succeeded. A failed real call records nothing.
 *
 * File handles keep their own position and always pass explicit positions to the base, so the
 * recorded offset of every write is exactly where its bytes landed, even with concurrent calls.
 */
import { constants } from 'node:fs';
import { NamespaceGate } from './namespace-gate.js';
import {
  InvalidRerecordPolicyError,
  NotSupportedError,
  PropertyNotUtf8Error,
  UntrackedFileError,
} from './recorder-errors.js';
import type { Recorder, WaitOptions } from './recorder.js';
import {
  checkMaxFiles,
  checkRerecordPolicy,
  pinningFiles,
  pinsTooMuch,
  type RerecordPolicy,
  type RerecordResult,
} from './rerecord.js';
import type { Fnode, FSMHints } from './wire/types.js';

/** What RecordedFs needs of a stat result (node:fs Stats and memfs Stats both fit). */
export interface BaseStats {
  size: number | bigint;
  isFile(): boolean;
  isDirectory(): boolean;
}

/** What RecordedFs needs of a base file handle (node:fs FileHandle and memfs FileHandle fit). */
export interface BaseFileHandle {
  readonly fd: number;
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesWritten: number }>;
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesRead: number }>;
  stat(): Promise<BaseStats>;
  truncate(len?: number): Promise<void>;
  datasync(): Promise<void>;
  /** memfs implements it but does not declare it: fall back to datasync when absent. */
  sync?(): Promise<void>;
  close(): Promise<void>;
}

/** The subset of `fs/promises` RecordedFs uses (node:fs `promises` and memfs `vol.promises` fit). */
export interface BaseFs {
  open(path: string, flags: string | number, mode?: number): Promise<BaseFileHandle>;
  rename(oldPath: string, newPath: string): Promise<void>;
  link(existingPath: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rm(path: string, options?: { force?: boolean; recursive?: boolean }): Promise<void>;
  rmdir(path: string): Promise<void>;
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<unknown>;
  truncate(path: string, len?: number): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  readdir(path: string): Promise<unknown[]>;
  stat(path: string): Promise<BaseStats>;
  lstat(path: string): Promise<BaseStats>;
}

export interface RecordedFsOptions {
  /**
   * Re-record long-lived files before building hints (see buildHints() and RerecordPolicy), so
   * that no live file keeps more than about `maxPinnedBytes` of log from being pruned.
   */
  rerecord?: RerecordPolicy;
}

export type OpenFlags = string | number;
export type FileData = string | Uint8Array;

export interface WriteFileOptions {
  flag?: OpenFlags;
  mode?: number;
  encoding?: BufferEncoding;
}

/** What an open is allowed to do, decoded from string or numeric flags. */
export interface AccessMode {
  write: boolean;
  create: boolean;
  exclusive: boolean;
  truncate: boolean;
  append: boolean;
}

const STRING_FLAGS: Readonly<Record<string, AccessMode>> = (() => {
  const mode = (m: Partial<AccessMode>): AccessMode => ({
    write: false,
    create: false,
    exclusive: false,
    truncate: false,
    append: false,
    ...m,
  });
  const read = mode({});
  const rw = mode({ write: true });
  const w = mode({ write: true, create: true, truncate: true });
  const wx = mode({ write: true, create: true, truncate: true, exclusive: true });
  const a = mode({ write: true, create: true, append: true });
  const ax = mode({ write: true, create: true, append: true, exclusive: true });
  return {
    r: read,
    rs: read,
    sr: read,
    'r+': rw,
    'rs+': rw,
    'sr+': rw,
    w,
    'w+': w,
    wx,
    xw: wx,
    'wx+': wx,
    'xw+': wx,
    a,
    as: a,
    sa: a,
    'a+': a,
    'as+': a,
    'sa+': a,
    ax,
    xa: ax,
    'ax+': ax,
    'xa+': ax,
  };
})();

function accessMode(flags: OpenFlags): AccessMode {
  if (typeof flags === 'string') {
    const mode = STRING_FLAGS[flags];
    if (mode === undefined) {
      throw new NotSupportedError(`open flags ${JSON.stringify(flags)}`, 'unknown flag string');
    }
    return mode;
  }
  if (!Number.isInteger(flags)) {
    throw new NotSupportedError(`open flags ${flags}`, 'flags must be a string or an integer');
  }
  const access = flags & (constants.O_RDONLY | constants.O_WRONLY | constants.O_RDWR);
  return {
    // O_TRUNC changes the file even when opened read-only (Linux does truncate).
    write: access !== constants.O_RDONLY || (flags & constants.O_TRUNC) !== 0,
    create: (flags & constants.O_CREAT) !== 0,
    exclusive: (flags & constants.O_EXCL) !== 0,
    truncate: (flags & constants.O_TRUNC) !== 0,
    append: (flags & constants.O_APPEND) !== 0,
  };
}

function toBytes(data: FileData, encoding: BufferEncoding = 'utf8'): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, encoding) : data;
}

function asView(data: ArrayBufferView): Uint8Array {
  return data instanceof Uint8Array
    ? data
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Waits for a file's own sync and the log's barrier, run side by side: neither needs the other,
 * and overlapping them saves a flush latency per sync. Settles only once both have (no sync is
 * left running behind the caller's back), then fails with the file's error first, as the
 * sequential order reported it.
 */
async function bothDurable(fileSync: Promise<void>, barrier: Promise<unknown>): Promise<void> {
  const [file, log] = await Promise.allSettled([fileSync, barrier]);
  if (file.status === 'rejected') throw file.reason;
  if (log.status === 'rejected') throw log.reason;
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ENOENT';
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A file opened through RecordedFs. Writes are recorded against the file's Fnode, so they stay
 * correct after the file is renamed; writes to a file that no longer has any name are not
 * recorded (no playback could ever reach them).
 */
export class RecordedFileHandle {
  readonly #fs: RecordedFs;
  readonly #base: BaseFileHandle;
  readonly #mode: AccessMode;
  #position = 0;
  #closed = false;
  /** The file's identity in the recording; undefined for read-only handles. */
  fnode: Fnode | undefined;

  /** @internal Created by RecordedFs.open. */
  constructor(fs: RecordedFs, base: BaseFileHandle, mode: AccessMode, fnode: Fnode | undefined) {
    this.#fs = fs;
    this.#base = base;
    this.#mode = mode;
    this.fnode = fnode;
  }

  get fd(): number {
    return this.#base.fd;
  }
  /** Where the next write or read without an explicit position happens. */
  get position(): number {
    return this.#position;
  }
  /** Opened with an append flag: every write lands at the end of the file. */
  get appending(): boolean {
    return this.#mode.append;
  }

  /**
   * Writes like FileHandle.write: `(buffer, offset?, length?, position?)`,
   * `(buffer, { offset, length, position })` or `(string, position?, encoding?)`. A null or
   * absent position writes at the handle's position and advances it.
   */
  write(
    data: string,
    position?: number | null,
    encoding?: BufferEncoding | null,
  ): Promise<{ bytesWritten: number; buffer: string }>;
  write<T extends ArrayBufferView>(
    buffer: T,
    offset?: number | null,
    length?: number | null,
    position?: number | null,
  ): Promise<{ bytesWritten: number; buffer: T }>;
  write<T extends ArrayBufferView>(
    buffer: T,
    options: { offset?: number | null; length?: number | null; position?: number | null },
  ): Promise<{ bytesWritten: number; buffer: T }>;
  async write(
    data: string | ArrayBufferView,
    a?:
      number | null | { offset?: number | null; length?: number | null; position?: number | null },
    b?: number | null | BufferEncoding,
    c?: number | null,
  ): Promise<{ bytesWritten: number; buffer: string | ArrayBufferView }> {
    if (typeof data === 'string') {
      const position = typeof a === 'number' ? a : null;
      const bytes = toBytes(data, typeof b === 'string' ? b : 'utf8');
      const bytesWritten = await this.#writeBytes(bytes, position);
      return { bytesWritten, buffer: data };
    }
    const view = asView(data);
    const opts = typeof a === 'object' && a !== null ? a : { offset: a, length: b, position: c };
    const offset = opts.offset ?? 0;
    const length = (typeof opts.length === 'number' ? opts.length : null) ?? view.length - offset;
    if (offset < 0 || length < 0 || offset + length > view.length) {
      throw new RangeError(
        `write of ${length} bytes at buffer offset ${offset} exceeds the buffer (${view.length})`,
      );
    }
    const bytesWritten = await this.#writeBytes(
      view.subarray(offset, offset + length),
      opts.position ?? null,
    );
    return { bytesWritten, buffer: data };
  }

  /** Writes several buffers contiguously (recorded as one write). */
  async writev<T extends readonly ArrayBufferView[]>(
    buffers: T,
    position?: number | null,
  ): Promise<{ bytesWritten: number; buffers: T }> {
    const bytesWritten = await this.#writeBytes(
      Buffer.concat(buffers.map(asView)),
      position ?? null,
    );
    return { bytesWritten, buffers };
  }

  /** Writes all of `data` at the handle's position (at the end for append handles). */
  async writeFile(
    data: FileData,
    options?: { encoding?: BufferEncoding } | BufferEncoding,
  ): Promise<void> {
    const encoding = typeof options === 'string' ? options : options?.encoding;
    let rest = toBytes(data, encoding);
    do {
      const n = await this.#writeBytes(rest, null);
      rest = rest.subarray(n);
      if (n === 0 && rest.length > 0) {
        throw new Error(`write made no progress with ${rest.length} bytes left (fd ${this.fd})`);
      }
    } while (rest.length > 0);
  }

  /** Same as writeFile on a handle (Node's FileHandle.appendFile is an alias too). */
  appendFile(
    data: FileData,
    options?: { encoding?: BufferEncoding } | BufferEncoding,
  ): Promise<void> {
    return this.writeFile(data, options);
  }

  /** Reads like FileHandle.read; a null or absent position reads at the handle's position. */
  async read<T extends ArrayBufferView>(
    buffer: T,
    offset = 0,
    length?: number | null,
    position?: number | null,
  ): Promise<{ bytesRead: number; buffer: T }> {
    const view = asView(buffer);
    const len = length ?? view.length - offset;
    const at = position ?? this.#position;
    const { bytesRead } = await this.#base.read(view, offset, len, at);
    if (position === null || position === undefined) this.#position = at + bytesRead;
    return { bytesRead, buffer };
  }

  stat(): Promise<BaseStats> {
    return this.#base.stat();
  }

  /**
   * Only truncation to 0 can be recorded (as a new, empty file at the same path, like an open
   * with O_TRUNC). Anything else throws NotSupportedError before touching the file.
   */
  async truncate(len = 0): Promise<void> {
    if (len !== 0) {
      throw new NotSupportedError(
        `truncate(${len})`,
        'a recovery log can only express truncation to 0 (recorded as a new, empty file)',
      );
    }
    if (this.fnode === undefined) {
      await this.#base.truncate(0);
      return;
    }
    await this.#fs._truncateFnode(this.fnode, () => this.#base.truncate(0));
  }

  /** fsync of the file, and waits until everything recorded so far is durable in the log. */
  async sync(): Promise<void> {
    await bothDurable(
      this.#base.sync ? this.#base.sync() : this.#base.datasync(),
      this.#fs.recorder.barrier(),
    );
  }

  /** fdatasync of the file, and waits until everything recorded so far is durable in the log. */
  async datasync(): Promise<void> {
    await bothDurable(this.#base.datasync(), this.#fs.recorder.barrier());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#base.close();
    this.#closed = true;
    this.#fs._forget(this);
  }

  chmod(): Promise<never> {
    return notSupported('chmod', 'file modes are not recorded');
  }
  chown(): Promise<never> {
    return notSupported('chown', 'file ownership is not recorded');
  }
  utimes(): Promise<never> {
    return notSupported('utimes', 'file times are not recorded');
  }

  async #writeBytes(bytes: Uint8Array, position: number | null): Promise<number> {
    this.#fs._assertUsable();
    if (position !== null && (!Number.isSafeInteger(position) || position < 0)) {
      throw new RangeError(`write position must be a non-negative integer, got ${position}`);
    }
    const append = this.#mode.append;
    // Reserve the range now, in call order, so concurrent writes get distinct positions.
    const reserved = position ?? this.#position;
    if (!append && position === null) this.#position = reserved + bytes.length;
    const fnode = this.fnode;
    if (fnode === undefined) {
      // Read-only handle: the base refuses the write; nothing to record either way.
      const { bytesWritten } = await this.#base.write(bytes, 0, bytes.length, reserved);
      return bytesWritten;
    }
    // Writes to one file are serialised with their recording, so the log orders them exactly as
    // the file system applied them.
    return this.#fs._serialized(fnode, async () => {
      this.#fs._assertUsable();
      // O_APPEND: the base appends whatever the position says; we record at the known end.
      const at = append ? await this.#fs._size(this.fnode!, this.#base) : reserved;
      const { bytesWritten } = await this.#base.write(bytes, 0, bytes.length, append ? null : at);
      if (append) {
        this.#position = at + bytesWritten;
      } else if (position === null && bytesWritten < bytes.length) {
        // A short write: continue right after what was written (unless another write followed).
        if (this.#position === at + bytes.length) this.#position = at + bytesWritten;
      }
      this.#fs._recordWrite(this, bytes.subarray(0, bytesWritten), at);
      return bytesWritten;
    });
  }
}

/** Reads a file from its start to its end, through a handle. */
async function readWhole(handle: BaseFileHandle): Promise<Uint8Array> {
  let buffer = Buffer.allocUnsafe(Number((await handle.stat()).size) + 1);
  let length = 0;
  for (;;) {
    if (length === buffer.length) buffer = Buffer.concat([buffer, Buffer.allocUnsafe(length)]);
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
    if (bytesRead === 0) return buffer.subarray(0, length);
    length += bytesRead;
  }
}

function notSupported(operation: string, detail: string): Promise<never> {
  return Promise.reject(new NotSupportedError(operation, detail));
}

/**
 * A Node `fs/promises`-shaped file system that records mutations under `recorder.dir`, and can
 * re-record long-lived files so that pruning can pass them (rerecord, rerecordPinning, buildHints).
 */
export class RecordedFs {
  readonly recorder: Recorder;
  readonly base: BaseFs;
  readonly #policy: Required<RerecordPolicy> | undefined;
  /** Held shared by calls that change what a path names; exclusively by a re-record's open. */
  readonly #gate = new NamespaceGate();
  /**
   * Re-recorded files: old Fnode -> new one, while tasks queued under the old one may still run
   * (a truncation queued behind the re-record must truncate the file under its new identity).
   */
  readonly #successors = new Map<Fnode, Fnode>();
  /** Known file sizes, by Fnode (appends land at the end; it must be known exactly). */
  readonly #sizes = new Map<Fnode, number>();
  /** Open writable handles by Fnode: an O_TRUNC open gives their file a new identity. */
  readonly #handles = new Map<Fnode, Set<RecordedFileHandle>>();
  /** Per-Fnode queues serialising appends, whose offsets depend on each other. */
  readonly #queues = new Map<Fnode, Promise<unknown>>();

  constructor(recorder: Recorder, base: BaseFs, options: RecordedFsOptions = {}) {
    this.recorder = recorder;
    this.base = base;
    this.#policy =
      options.rerecord === undefined ? undefined : checkRerecordPolicy(options.rerecord);
  }

  /**
   * Opens like fsPromises.open. Read-only opens record nothing. Opens for writing must be under
   * the recorder's directory; a truncating open records a new, empty file.
   */
  async open(path: string, flags: OpenFlags = 'r', mode?: number): Promise<RecordedFileHandle> {
    const access = accessMode(flags);
    if (!access.write) {
      const base = await this.base.open(path, flags, mode);
      return new RecordedFileHandle(this, base, access, undefined);
    }
    return this.#gate.shared(() => this.#openForWriting(path, flags, mode, access));
  }

  async #openForWriting(
    path: string,
    flags: OpenFlags,
    mode: number | undefined,
    access: AccessMode,
  ): Promise<RecordedFileHandle> {
    const rel = this.#validatePath(path, 'open for writing');
    this._assertUsable();
    if (this.recorder.isPropertyPath(path)) {
      throw new NotSupportedError(
        'open for writing',
        `${rel} is a property path: write a temporary file and rename it onto ${rel}`,
      );
    }
    const known = this.recorder.fnodeAt(path);
    if (access.truncate && known !== undefined) this.#assertSingleLink(known, path, 'truncate');

    const openAndRecord = async () => {
      const opened = await this.base.open(path, flags, mode);
      try {
        return { opened, fnode: await this.#recordOpen(path, access, opened) };
      } catch (err) {
        await opened.close().catch(() => undefined);
        throw err;
      }
    };
    // A truncating open of a recorded file waits for writes still in flight on it, as truncate()
    // does: otherwise such a write, landing before the truncation but recorded after it, would
    // be recorded into the new, empty identity (found in review).
    const { opened: base, fnode } =
      access.truncate && known !== undefined
        ? await this._serialized(known, openAndRecord)
        : await openAndRecord();
    const handle = new RecordedFileHandle(this, base, access, fnode);
    let handles = this.#handles.get(fnode);
    if (handles === undefined) this.#handles.set(fnode, (handles = new Set()));
    handles.add(handle);
    return handle;
  }

  /** Replaces the file at `path` (flag 'w' unless given) with `data`. */
  async writeFile(
    path: string,
    data: FileData,
    options?: WriteFileOptions | BufferEncoding,
  ): Promise<void> {
    const opts = typeof options === 'string' ? { encoding: options } : (options ?? {});
    await this.#withHandle(path, opts.flag ?? 'w', opts.mode, (h) =>
      h.writeFile(data, { encoding: opts.encoding }),
    );
  }

  /** Appends `data` to the file at `path` (flag 'a' unless given). */
  async appendFile(
    path: string,
    data: FileData,
    options?: WriteFileOptions | BufferEncoding,
  ): Promise<void> {
    const opts = typeof options === 'string' ? { encoding: options } : (options ?? {});
    await this.#withHandle(path, opts.flag ?? 'a', opts.mode, (h) =>
      h.writeFile(data, { encoding: opts.encoding }),
    );
  }

  /**
   * Renames a file. Renaming onto a property path (e.g. IDENTITY) records the file's content,
   * which must be valid UTF-8. Directories holding recorded files cannot be renamed.
   */
  rename(oldPath: string, newPath: string): Promise<void> {
    return this.#gate.shared(() => this.#rename(oldPath, newPath));
  }

  async #rename(oldPath: string, newPath: string): Promise<void> {
    const from = this.#validatePath(oldPath, 'rename');
    const to = this.#validatePath(newPath, 'rename onto');
    this._assertUsable();
    if (this.recorder.isPropertyPath(oldPath)) {
      throw new NotSupportedError('rename', `${from} is a property path, which cannot be renamed`);
    }
    if (from === to) {
      await this.base.rename(oldPath, newPath); // POSIX: a no-op when the file exists.
      return;
    }
    const fnode = this.recorder.fnodeAt(oldPath);
    if (fnode === undefined) {
      const stats = await this.base.lstat(oldPath);
      if (!stats.isDirectory()) throw new UntrackedFileError(oldPath, 'rename');
      if (this.#hasRecordedFilesUnder(from) || this.#hasRecordedFilesUnder(to)) {
        throw new NotSupportedError(
          'rename of a directory',
          `${from} (or ${to}) holds recorded files; rename the files one by one`,
        );
      }
      await this.base.rename(oldPath, newPath);
      return;
    }
    if (this.recorder.fnodeAt(newPath) === fnode) {
      throw new NotSupportedError(
        'rename',
        `${from} and ${to} are links to the same file, where file systems disagree on the ` +
          `effect; unlink one of them instead`,
      );
    }
    let content: string | undefined;
    if (this.recorder.isPropertyPath(newPath)) {
      const bytes = await this.base.readFile(oldPath);
      try {
        content = strictUtf8.decode(bytes);
      } catch {
        throw new PropertyNotUtf8Error(oldPath, newPath);
      }
    }
    await this.base.rename(oldPath, newPath);
    const target = this.recorder.fnodeAt(newPath);
    this.recorder.recordRename(oldPath, newPath, content);
    if (target !== undefined) this.#dropIfDead(target);
    if (content !== undefined) this.#dropIfDead(fnode);
  }

  /** Adds a hard link `newPath` to the file at `existingPath`. */
  link(existingPath: string, newPath: string): Promise<void> {
    return this.#gate.shared(() => this.#link(existingPath, newPath));
  }

  async #link(existingPath: string, newPath: string): Promise<void> {
    this.#validatePath(existingPath, 'link from');
    const to = this.#validatePath(newPath, 'link onto');
    this._assertUsable();
    if (this.recorder.isPropertyPath(newPath)) {
      throw new NotSupportedError('link', `${to} is a property path, which cannot be linked`);
    }
    if (this.recorder.isPropertyPath(existingPath)) {
      throw new NotSupportedError('link', 'a property path cannot be linked elsewhere');
    }
    if (this.recorder.fnodeAt(existingPath) === undefined) {
      const stats = await this.base.lstat(existingPath);
      if (stats.isFile()) throw new UntrackedFileError(existingPath, 'link');
      await this.base.link(existingPath, newPath); // Fails for what is not a file.
      return;
    }
    await this.base.link(existingPath, newPath);
    this.recorder.recordLink(existingPath, newPath);
  }

  /** Removes a file. */
  unlink(path: string): Promise<void> {
    return this.#gate.shared(() => this.#unlink(path));
  }

  async #unlink(path: string): Promise<void> {
    const rel = this.#validatePath(path, 'unlink');
    this._assertUsable();
    if (this.recorder.isPropertyPath(path)) {
      throw new NotSupportedError('unlink', `${rel} is a property path, which cannot be removed`);
    }
    await this.base.unlink(path);
    this.#recordRemoval(path);
  }

  /** Removes a file (`force` ignores a missing one). Removing directories is not supported. */
  rm(path: string, options?: { force?: boolean; recursive?: boolean }): Promise<void> {
    return this.#gate.shared(() => this.#rm(path, options));
  }

  async #rm(path: string, options?: { force?: boolean; recursive?: boolean }): Promise<void> {
    const rel = this.#validatePath(path, 'rm');
    this._assertUsable();
    if (this.recorder.isPropertyPath(path)) {
      throw new NotSupportedError('rm', `${rel} is a property path, which cannot be removed`);
    }
    let stats: BaseStats;
    try {
      stats = await this.base.lstat(path);
    } catch (err) {
      if (options?.force === true && isNotFound(err)) return;
      throw err;
    }
    if (stats.isDirectory()) {
      throw new NotSupportedError(
        'rm of a directory',
        `${rel} is a directory; remove its files one by one, then rmdir it`,
      );
    }
    await this.base.rm(path, options);
    this.#recordRemoval(path);
  }

  /**
   * Truncates a file. Only length 0 can be recorded (as a new, empty file); other lengths throw
   * NotSupportedError before touching the file.
   */
  truncate(path: string, len = 0): Promise<void> {
    return this.#gate.shared(() => this.#truncate(path, len));
  }

  async #truncate(path: string, len: number): Promise<void> {
    const rel = this.#validatePath(path, 'truncate');
    if (len !== 0) {
      throw new NotSupportedError(
        `truncate(${len})`,
        'a recovery log can only express truncation to 0 (recorded as a new, empty file)',
      );
    }
    this._assertUsable();
    if (this.recorder.isPropertyPath(path)) {
      throw new NotSupportedError('truncate', `${rel} is a property path`);
    }
    const known = this.recorder.fnodeAt(path);
    if (known === undefined) {
      await this.base.truncate(path, 0);
      this.#sizes.set(this.recorder.recordCreate(path), 0);
      return;
    }
    await this._truncateFnode(known, () => this.base.truncate(path, 0));
  }

  /** Copies a file by reading it and writing a new recorded file (COPYFILE_EXCL honoured). */
  async copyFile(src: string, dest: string, mode = 0): Promise<void> {
    if ((mode & constants.COPYFILE_FICLONE_FORCE) !== 0) {
      throw new NotSupportedError(
        'copyFile',
        'COPYFILE_FICLONE_FORCE (a recorded copy is a write)',
      );
    }
    this.#validatePath(dest, 'copy onto');
    const data = await this.base.readFile(src);
    await this.writeFile(dest, data, {
      flag: (mode & constants.COPYFILE_EXCL) !== 0 ? 'wx' : 'w',
    });
  }

  /** Directories are implied by file paths: nothing is recorded. */
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<unknown> {
    return this.base.mkdir(path, options);
  }

  /** Removes an empty directory (empty, so it holds no recorded file): nothing is recorded. */
  rmdir(path: string): Promise<void> {
    return this.base.rmdir(path);
  }

  readFile(path: string): Promise<Uint8Array>;
  readFile(path: string, encoding: BufferEncoding | { encoding: BufferEncoding }): Promise<string>;
  async readFile(
    path: string,
    encoding?: BufferEncoding | { encoding: BufferEncoding },
  ): Promise<Uint8Array | string> {
    const bytes = await this.base.readFile(path);
    if (encoding === undefined) return bytes;
    const name = typeof encoding === 'string' ? encoding : encoding.encoding;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(name);
  }

  async readdir(path: string): Promise<string[]> {
    return (await this.base.readdir(path)).map((entry) => String(entry));
  }

  stat(path: string): Promise<BaseStats> {
    return this.base.stat(path);
  }

  lstat(path: string): Promise<BaseStats> {
    return this.base.lstat(path);
  }

  symlink(): Promise<never> {
    return notSupported('symlink', 'a recovery log records regular files and hard links only');
  }
  chmod(): Promise<never> {
    return notSupported('chmod', 'file modes are not recorded');
  }
  chown(): Promise<never> {
    return notSupported('chown', 'file ownership is not recorded');
  }
  utimes(): Promise<never> {
    return notSupported('utimes', 'file times are not recorded');
  }
  cp(): Promise<never> {
    return notSupported('cp', 'use copyFile for single files');
  }

  // ----------------------------------------------------------------------------------------
  // Re-recording long-lived files (beyond Gazette; see rerecord.ts).

  /**
   * Re-records the file at `path`: its current bytes become a new file identity, with all its
   * hard links, in one append (Recorder.recordRerecord), so the log before it can be pruned once
   * no other live file needs it. The directory does not change. Atomic with respect to the
   * application: writes and truncations of the file wait behind it (the file's write queue), and
   * so the recorded bytes are exactly the file's; calls that change what a path names wait while
   * it opens the file. Resolves undefined when the file was removed or replaced (truncated) while
   * it waited: its history then starts afresh anyway. The file is read into memory whole.
   */
  async rerecord(path: string): Promise<RerecordResult | undefined> {
    const rel = this.#validatePath(path, 'rerecord');
    this._assertUsable();
    if (this.recorder.isPropertyPath(path)) {
      throw new NotSupportedError(
        'rerecord',
        `${rel} is a property path; properties are kept whole in the hints and pin no log`,
      );
    }
    if (this.recorder.fnodeAt(path) === undefined) {
      const stats = await this.base.lstat(path); // A missing path fails here, with ENOENT.
      if (stats.isFile()) throw new UntrackedFileError(path, 'rerecord');
      throw new NotSupportedError('rerecord', `${rel} is not a file`);
    }
    return this.#rerecord(() => this.recorder.fnodeAt(path));
  }

  /**
   * Re-records the live files whose recorded history begins below `belowOffset` of the log,
   * lowest first, at most `maxFiles` of them (default: all), one after the other as
   * rerecord() does. Afterwards hints no longer need the log below `belowOffset` (unless more
   * files than `maxFiles` pinned it), and FileJournal.prune can delete the fragments there.
   */
  async rerecordPinning(options: {
    belowOffset: number;
    maxFiles?: number;
  }): Promise<RerecordResult[]> {
    const { belowOffset, maxFiles = Number.MAX_SAFE_INTEGER } = options;
    if (!Number.isSafeInteger(belowOffset) || belowOffset < 0) {
      throw new InvalidRerecordPolicyError(
        `belowOffset must be a non-negative integer, got ${String(belowOffset)}`,
      );
    }
    checkMaxFiles('maxFiles', maxFiles);
    this._assertUsable();
    const results: RerecordResult[] = [];
    const log = this.recorder.journal.name;
    for (const file of pinningFiles(this.recorder.fsm, log, belowOffset)) {
      if (results.length >= maxFiles) break;
      const result = await this.#rerecord(() => file.fnode);
      if (result !== undefined) results.push(result);
    }
    return results;
  }

  /**
   * The Recorder's hints (Recorder.buildHints: only durable ops), after re-recording what the
   * `rerecord` policy given to the constructor asks for: the live files pinning more than
   * `maxPinnedBytes` of log besides their own bytes, lowest first, at most `maxFilesPerRun`.
   * Without a policy, the same as `recorder.buildHints()`.
   */
  async buildHints(options?: WaitOptions): Promise<FSMHints> {
    const policy = this.#policy;
    if (policy !== undefined) {
      this._assertUsable();
      const head = this.recorder.writeHead;
      const below = head - policy.maxPinnedBytes;
      const log = this.recorder.journal.name;
      let done = 0;
      for (const file of below > 0 ? pinningFiles(this.recorder.fsm, log, below) : []) {
        if (done >= policy.maxFilesPerRun) break;
        const worth = (size: number): boolean => pinsTooMuch(policy, head, file.firstOffset, size);
        if ((await this.#rerecord(() => file.fnode, worth)) !== undefined) done++;
      }
    }
    return this.recorder.buildHints(options);
  }

  /**
   * Re-records the live file `pick()` names once the gate is ours (undefined: nothing to do).
   * 1. Under the exclusive gate (no call is between changing a path and recording it, so the
   *    directory is as the Recorder believes), open the file by one of its paths.
   * 2. In the file's write queue (no write or truncation of it in flight), unless it died or was
   *    replaced meanwhile, read it through that handle (the same file, even if renamed since)
   *    and, in the same synchronous step, record the swap with the links it has now (a path
   *    change still between its real call and its recording is recorded after the swap, by
   *    path, so onto the new identity) and move handles, size and queue to the new identity.
   * `worth(size)`, when given, can decline the file once its exact size is known.
   */
  async #rerecord(
    pick: () => Fnode | undefined,
    worth?: (size: number) => boolean,
  ): Promise<RerecordResult | undefined> {
    const opened = await this.#gate.exclusive(async () => {
      this._assertUsable();
      const fnode = pick();
      const links = fnode === undefined ? undefined : this.recorder.fsm.liveNodes.get(fnode)?.links;
      const [first] = links ?? [];
      if (fnode === undefined || first === undefined) return undefined;
      return { fnode, handle: await this.base.open(this.#absolute(first), 'r') };
    });
    if (opened === undefined) return undefined;
    const { fnode, handle } = opened;
    try {
      return await this._serialized(fnode, async () => {
        this._assertUsable();
        if (this.recorder.linkCount(fnode) === 0) return undefined;
        if (worth !== undefined && !worth(Number((await handle.stat()).size))) return undefined;
        const content = await readWhole(handle);
        this._assertUsable();
        const node = this.recorder.fsm.liveNodes.get(fnode);
        if (node === undefined) return undefined; // All its links were removed meanwhile.
        const paths = [...node.links].map((rel) => this.#absolute(rel));
        const fresh = this.recorder.recordRerecord(fnode, content);
        this.#successors.set(fnode, fresh);
        this.#renewIdentity(fnode, fresh, content.length);
        return { paths, from: fnode, to: fresh, bytes: content.length };
      });
    } finally {
      await handle.close();
    }
  }

  // ----------------------------------------------------------------------------------------
  // Internals shared with RecordedFileHandle (underscore: not part of the public API).

  /** @internal Throws the recorder's failure, so nothing is changed that cannot be recorded. */
  _assertUsable(): void {
    const failed = this.recorder.failed;
    if (failed) throw failed;
  }

  /** @internal Records bytes a handle wrote at `offset` (unless its file has no name left). */
  _recordWrite(handle: RecordedFileHandle, bytes: Uint8Array, offset: number): void {
    const fnode = handle.fnode;
    if (fnode === undefined || this.recorder.linkCount(fnode) === 0) return;
    this.recorder.recordWriteAt(fnode, bytes, offset);
    const size = this.#sizes.get(fnode);
    if (size !== undefined) this.#sizes.set(fnode, Math.max(size, offset + bytes.length));
  }

  /** @internal The exact size of `fnode`, learned from the handle the first time. */
  async _size(fnode: Fnode, base: BaseFileHandle): Promise<number> {
    let size = this.#sizes.get(fnode);
    if (size === undefined) {
      size = Number((await base.stat()).size);
      this.#sizes.set(fnode, size);
    }
    return size;
  }

  /** @internal Runs `task` after earlier tasks queued on the same file. */
  _serialized<T>(fnode: Fnode, task: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(fnode) ?? Promise.resolve();
    const run = previous.then(task, task);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(fnode, settled);
    void settled.then(() => {
      if (this.#queues.get(fnode) === settled) this.#queues.delete(fnode);
    });
    return run;
  }

  /**
   * @internal Truncates the file `fnode` to 0 through `truncate` and records it as a new file at
   * its (single) path; open handles follow the new identity, as they share the real file.
   */
  _truncateFnode(fnode: Fnode, truncate: () => Promise<void>): Promise<void> {
    this._assertUsable();
    return this._serialized(fnode, () => this.#truncateFnode(fnode, truncate));
  }

  async #truncateFnode(queued: Fnode, truncate: () => Promise<void>): Promise<void> {
    this._assertUsable();
    // Re-recorded while this waited: the same file, under its new identity.
    let fnode = queued;
    let next = this.#successors.get(fnode);
    while (next !== undefined) {
      fnode = next;
      next = this.#successors.get(fnode);
    }
    const links = this.recorder.fsm.liveNodes.get(fnode)?.links;
    if (links === undefined) {
      await truncate(); // The file has no name left: nothing a playback could see.
      return;
    }
    const [rel] = [...links];
    const path = this.#absolute(rel);
    this.#assertSingleLink(fnode, path, 'truncate');
    await truncate();
    const current = this.recorder.fnodeAt(path);
    if (current === undefined) return; // Removed meanwhile: the truncation is unobservable.
    this.#renewIdentity(current, this.recorder.recordCreate(path));
  }

  /** @internal A handle was closed. */
  _forget(handle: RecordedFileHandle): void {
    if (handle.fnode === undefined) return;
    const handles = this.#handles.get(handle.fnode);
    handles?.delete(handle);
    if (handles?.size === 0) this.#handles.delete(handle.fnode);
  }

  // ----------------------------------------------------------------------------------------

  async #recordOpen(path: string, access: AccessMode, base: BaseFileHandle): Promise<Fnode> {
    let known = this.recorder.fnodeAt(path);
    if (known === undefined && !access.truncate) {
      // Without truncation the file keeps its content: an unrecorded one could not be replayed.
      const size = Number((await base.stat()).size);
      known = this.recorder.fnodeAt(path);
      if (known === undefined && (size > 0 || !access.create)) {
        throw new UntrackedFileError(path, 'open for writing');
      }
    }
    const fnode = this.recorder.recordOpenFile(path, {
      create: access.create,
      exclusive: access.exclusive,
      truncate: access.truncate,
    });
    if (known === undefined) {
      this.#sizes.set(fnode, 0);
    } else if (fnode !== known) {
      this.#renewIdentity(known, fnode);
    }
    return fnode;
  }

  /**
   * The file `old` goes on as `fresh` (a truncation: empty; a re-record: `size` bytes). Called in
   * `old`'s write queue: handles, size and the queue move over, so that writes on `fresh` come
   * after those still queued on `old`, as the file system applies them.
   */
  #renewIdentity(old: Fnode, fresh: Fnode, size = 0): void {
    this.#sizes.delete(old);
    this.#sizes.set(fresh, size);
    const tail = this.#queues.get(old);
    if (tail !== undefined) {
      this.#queues.set(fresh, tail);
      void tail.then(() => {
        if (this.#queues.get(fresh) === tail) this.#queues.delete(fresh);
        this.#successors.delete(old);
      });
    } else {
      this.#successors.delete(old);
    }
    const handles = this.#handles.get(old);
    if (handles === undefined) return;
    this.#handles.delete(old);
    const target = this.#handles.get(fresh) ?? new Set<RecordedFileHandle>();
    for (const h of handles) {
      h.fnode = fresh;
      target.add(h);
    }
    this.#handles.set(fresh, target);
  }

  #recordRemoval(path: string): void {
    const fnode = this.recorder.fnodeAt(path);
    // An unrecorded file was never part of the recording: removing it changes nothing there.
    if (fnode === undefined) return;
    this.recorder.recordRemove(path);
    this.#dropIfDead(fnode);
  }

  #dropIfDead(fnode: Fnode): void {
    if (this.recorder.linkCount(fnode) === 0) this.#sizes.delete(fnode);
  }

  #assertSingleLink(fnode: Fnode, path: string, what: string): void {
    if (this.recorder.linkCount(fnode) > 1) {
      throw new NotSupportedError(
        what,
        `${path} has ${this.recorder.linkCount(fnode)} hard links; truncating it would empty ` +
          `every link, but a recovery log can only replace the file at one path`,
      );
    }
  }

  #validatePath(path: string, what: string): string {
    if (typeof path !== 'string') {
      throw new NotSupportedError(what, 'paths must be strings (absolute, under the directory)');
    }
    return this.recorder.relativePath(path);
  }

  #hasRecordedFilesUnder(rel: string): boolean {
    const prefix = rel + '/';
    for (const path of this.recorder.fsm.links.keys()) if (path.startsWith(prefix)) return true;
    for (const path of this.recorder.fsm.properties.keys())
      if (path.startsWith(prefix)) return true;
    return false;
  }

  #absolute(rel: string): string {
    return this.recorder.dir === '/' ? rel : this.recorder.dir + rel;
  }

  async #withHandle(
    path: string,
    flags: OpenFlags,
    mode: number | undefined,
    use: (h: RecordedFileHandle) => Promise<void>,
  ): Promise<void> {
    const handle = await this.open(path, flags, mode);
    try {
      await use(handle);
    } finally {
      await handle.close();
    }
  }
}
