/**
 * RecordedFileHandle: a file opened through RecordedFs, shaped as Node's FileHandle. Writes are
 * recorded against the file's Fnode, so they stay correct after the file is renamed; writes to a
 * file that no longer has any name are not recorded (no playback could ever reach them).
 * The steps of a write and its recording, and of a read, are in handle-io.ts.
 */
import { EventEmitter } from 'node:events';
import type { BigIntStats, ReadStream, Stats, WriteStream } from 'node:fs';
import type {
  CreateReadStreamOptions,
  CreateWriteStreamOptions,
  FileHandle,
} from 'node:fs/promises';
import type { Interface as ReadlineInterface } from 'node:readline';
import type { ReadableStream } from 'node:stream/web';
import { NotSupportedError } from '../recorder-errors.js';
import type { Fnode } from '../wire/types.js';
import {
  bothDurable,
  checkOffsetLength,
  checkWriteData,
  getOptions,
  type Options,
  isView,
  positionArg,
  readArgs,
  type ReadArgs,
  viewBytes,
  writeSource,
} from './args.js';
import { bindMethods } from './bind.js';
import type { FsCore } from './core.js';
import { parseMode, type AccessMode } from './flags.js';
import { chmodFnode } from './metadata.js';
import { readInto, writeAll, writeBytes } from './handle-io.js';
import { checkAborted, invalidArgType, notSupported, systemError } from './node-errors.js';
import {
  handleReadStream,
  handleReadableWebStream,
  handleReadLines,
  handleWriteStream,
} from './streams.js';
import type { BaseFileHandle } from './types.js';

export class RecordedFileHandle extends EventEmitter implements FileHandle {
  /** The file's identity in the recording; undefined for read-only handles. */
  fnode: Fnode | undefined;
  /** @internal */ readonly _core: FsCore;
  /** @internal */ readonly _base: BaseFileHandle;
  /** @internal */ readonly _access: AccessMode;
  /** @internal */ _position = 0;
  /** @internal */ _closed = false;
  /** @internal */ readonly _fd: number;

  /** @internal Created by RecordedFs.open. */
  constructor(core: FsCore, base: BaseFileHandle, access: AccessMode, fnode: Fnode | undefined) {
    super();
    this._core = core;
    this._base = base;
    this._access = access;
    this.fnode = fnode;
    this._fd = base.fd;
    for (const key of ['_core', '_base', '_access', '_position', '_closed', '_fd']) {
      Object.defineProperty(this, key, { enumerable: false });
    }
    bindMethods(this, RecordedFileHandle.prototype);
  }

  /** The descriptor (-1 once closed, as Node's FileHandle). */
  get fd(): number {
    return this._closed ? -1 : this._fd;
  }
  /** Where the next write or read without an explicit position happens. */
  get position(): number {
    return this._position;
  }
  /** Opened with an append flag: every write lands at the end of the file. */
  get appending(): boolean {
    return this._access.append;
  }

  /**
   * Writes like FileHandle.write: `(buffer, offset?, length?, position?)`,
   * `(buffer, { offset, length, position })` or `(string, position?, encoding?)`. A null or
   * absent position writes at the handle's position and advances it. Offsets and lengths count
   * bytes, whatever the kind of ArrayBufferView.
   */
  write(
    data: string,
    position?: number | null,
    encoding?: BufferEncoding | null,
  ): Promise<{ bytesWritten: number; buffer: string }>;
  write<T extends NodeJS.ArrayBufferView>(
    buffer: T,
    offset?: number | null,
    length?: number | null,
    position?: number | null,
  ): Promise<{ bytesWritten: number; buffer: T }>;
  write<T extends NodeJS.ArrayBufferView>(
    buffer: T,
    options: { offset?: number | null; length?: number | null; position?: number | null },
  ): Promise<{ bytesWritten: number; buffer: T }>;
  async write(
    data: string | ArrayBufferView,
    a?: number | null | ReadArgs,
    b?: number | null | BufferEncoding,
    c?: number | null,
  ): Promise<{ bytesWritten: number; buffer: string | ArrayBufferView }> {
    this._checkOpen('write');
    checkWriteData(data);
    if (typeof data === 'string') {
      const encoding = typeof b === 'string' ? b : 'utf8';
      if (!Buffer.isEncoding(encoding)) throw invalidArgType('encoding', 'a valid encoding', b);
      const bytes = Buffer.from(data, encoding);
      return { bytesWritten: await this._writeBytes(bytes, positionArg(a)), buffer: data };
    }
    const view = viewBytes(data);
    if (view.length === 0) return { bytesWritten: 0, buffer: data }; // Node: no system call.
    const opts =
      typeof a === 'object' && a !== null ? a : { offset: a, length: b as number, position: c };
    const [offset, length] = checkOffsetLength(opts.offset, opts.length, view.length);
    const bytes = view.subarray(offset, offset + length);
    return {
      bytesWritten: await this._writeBytes(bytes, positionArg(opts.position)),
      buffer: data,
    };
  }

  /** Writes several buffers contiguously (recorded as one write). */
  async writev<T extends readonly NodeJS.ArrayBufferView[]>(
    buffers: T,
    position?: number | null,
  ): Promise<{ bytesWritten: number; buffers: T }> {
    this._checkOpen('writev');
    if (!Array.isArray(buffers)) throw invalidArgType('buffers', 'an instance of Array', buffers);
    for (const b of buffers)
      if (!isView(b)) throw invalidArgType('buffers', 'an ArrayBufferView[]', b);
    if (buffers.length === 0) return { bytesWritten: 0, buffers }; // Node: no system call.
    const bytes = Buffer.concat(buffers.map((b) => viewBytes(b)));
    return { bytesWritten: await this._writeBytes(bytes, positionArg(position)), buffers };
  }

  /** Writes all of `data` at the handle's position (at the end for append handles). */
  async writeFile(data: unknown, options?: unknown): Promise<void> {
    this._checkOpen('writeFile');
    const opts = getOptions<Options>(options, { encoding: 'utf8' });
    const source = writeSource(data, opts.encoding, opts.signal);
    checkAborted(opts.signal);
    if (source instanceof Uint8Array) {
      await this._writeAll(source);
      return;
    }
    for await (const chunk of source) await this._writeAll(chunk);
  }

  /** Same as writeFile on a handle (Node's FileHandle.appendFile is an alias too). */
  appendFile(data: unknown, options?: unknown): Promise<void> {
    return this.writeFile(data, options);
  }

  /** Reads like FileHandle.read; a null or absent position reads at the handle's position. */
  read<T extends NodeJS.ArrayBufferView>(
    buffer: T,
    offset?: number | null,
    length?: number | null,
    position?: number | bigint | null,
  ): Promise<{ bytesRead: number; buffer: T }>;
  read<T extends NodeJS.ArrayBufferView>(
    buffer: T,
    options?: { offset?: number | null; length?: number | null; position?: number | bigint | null },
  ): Promise<{ bytesRead: number; buffer: T }>;
  read<T extends NodeJS.ArrayBufferView = Buffer>(options?: {
    buffer?: T;
    offset?: number | null;
    length?: number | null;
    position?: number | bigint | null;
  }): Promise<{ bytesRead: number; buffer: T }>;
  async read(
    first?: ArrayBufferView | ReadArgs | null,
    a?: number | null | ReadArgs,
    b?: number | null,
    c?: number | bigint | null,
  ): Promise<{ bytesRead: number; buffer: ArrayBufferView }> {
    this._checkOpen('read');
    const args = readArgs(first, a, b, c);
    const buffer = args.buffer!;
    const view = viewBytes(buffer);
    const [offset, length] = checkOffsetLength(args.offset, args.length, view.length);
    if (length === 0) return { bytesRead: 0, buffer };
    return {
      bytesRead: await this._readInto(view, offset, length, positionArg(args.position)),
      buffer,
    };
  }

  /** Reads into several buffers, one after the other. */
  async readv<T extends readonly NodeJS.ArrayBufferView[]>(
    buffers: T,
    position?: number | null,
  ): Promise<{ bytesRead: number; buffers: T }> {
    this._checkOpen('readv');
    if (!Array.isArray(buffers)) throw invalidArgType('buffers', 'an instance of Array', buffers);
    let at = positionArg(position);
    let bytesRead = 0;
    for (const b of buffers) {
      const view = viewBytes(b);
      if (view.length === 0) continue;
      const n = await this._readInto(view, 0, view.length, at);
      bytesRead += n;
      if (at !== null) at += n;
      if (n < view.length) break;
    }
    return { bytesRead, buffers };
  }

  /** Reads from the handle's position to the end of the file, like FileHandle.readFile. */
  readFile(
    options?: { encoding?: null; flag?: string | number } | null,
  ): Promise<Buffer<ArrayBuffer>>;
  readFile(
    options: { encoding: BufferEncoding; flag?: string | number } | BufferEncoding,
  ): Promise<string>;
  readFile(
    options?: { encoding?: BufferEncoding | null } | BufferEncoding | null,
  ): Promise<string | Buffer<ArrayBuffer>>;
  async readFile(options?: unknown): Promise<string | Buffer<ArrayBuffer>> {
    this._checkOpen('readFile');
    const opts = getOptions<Options>(options, {});
    checkAborted(opts.signal);
    const chunks: Buffer[] = [];
    for (;;) {
      checkAborted(opts.signal);
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const n = await this._readInto(chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
    }
    const all = Buffer.concat(chunks);
    const encoding = opts.encoding;
    return encoding && encoding !== 'buffer' ? all.toString(encoding) : all;
  }

  /** A stream over the file from the handle's position (or `start`); closes the handle at end. */
  createReadStream(options?: CreateReadStreamOptions): ReadStream {
    return handleReadStream(this, options);
  }

  /** A stream whose writes are recorded as this handle's; closes the handle when done. */
  createWriteStream(options?: CreateWriteStreamOptions): WriteStream {
    return handleWriteStream(this, options);
  }

  readLines(options?: CreateReadStreamOptions): ReadlineInterface {
    return handleReadLines(this, options);
  }

  readableWebStream(): ReadableStream {
    return handleReadableWebStream(this);
  }

  stat(opts?: { bigint?: false }): Promise<Stats>;
  stat(opts: { bigint: true }): Promise<BigIntStats>;
  stat(opts?: { bigint?: boolean }): Promise<Stats | BigIntStats>;
  async stat(opts?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    this._checkOpen('fstat');
    return this._base.stat(opts) as Promise<Stats | BigIntStats>;
  }

  /**
   * Truncates (or zero-extends) the file to `len` bytes (negative: 0), recorded as
   * FsCore.truncateFnode says: to 0, a file with one link becomes a new, empty file at its path
   * (as Gazette records O_TRUNC); otherwise a truncate op.
   */
  async truncate(len = 0): Promise<void> {
    this._checkOpen('ftruncate');
    if (typeof len !== 'number' || !Number.isInteger(len))
      throw invalidArgType('len', 'an integer', len);
    const length = Math.max(0, len);
    if (!this._access.write) throw systemError('EINVAL', 'ftruncate', 'invalid argument');
    const fnode = this.fnode;
    if (fnode === undefined) return this._base.truncate(length);
    await this._core.truncateFnode(fnode, length, () => this._base.truncate(length));
  }

  /** fsync of the file, and waits until everything recorded so far is durable in the log. */
  async sync(): Promise<void> {
    this._checkOpen('fsync');
    const base = this._base;
    await bothDurable(base.sync ? base.sync() : base.datasync(), this._core.recorder.barrier());
  }

  /** fdatasync of the file, and waits until everything recorded so far is durable in the log. */
  async datasync(): Promise<void> {
    this._checkOpen('fdatasync');
    await bothDurable(this._base.datasync(), this._core.recorder.barrier());
  }

  async close(): Promise<void> {
    if (this._closed) return;
    await this._base.close();
    this._closed = true;
    this._core.forget(this, this._fd);
    this.emit('close');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Changes the file's permission bits (recorded as a chmod op of its Fnode). */
  async chmod(mode: string | number): Promise<void> {
    this._checkOpen('fchmod');
    const perm = parseMode(mode);
    if (perm === undefined) {
      throw invalidArgType('mode', 'a 32-bit unsigned integer or an octal string', mode);
    }
    const fnode = this.fnode;
    if (fnode === undefined) {
      throw new NotSupportedError(
        'chmod through a read-only handle',
        'the recording knows files by the handles that write them: open the file for writing, ' +
          'or call chmod with its path',
      );
    }
    const base = this._base;
    if (base.chmod === undefined) {
      throw new NotSupportedError('chmod', 'the base file system has no FileHandle.chmod');
    }
    this._core.assertUsable();
    await chmodFnode(this._core, fnode, perm & 0o7777, () => base.chmod!(perm));
  }
  chown(..._args: unknown[]): Promise<never> {
    return notSupported('chown', 'file ownership is not recorded');
  }
  utimes(..._args: unknown[]): Promise<never> {
    return notSupported('utimes', 'file times are not recorded');
  }

  /** @internal Node's check of every FileHandle call: EBADF once the handle is closed. */
  _checkOpen(syscall: string): void {
    if (this._closed) throw systemError('EBADF', syscall, 'file closed');
  }

  /** @internal Writes all of `bytes` at the handle's position (short writes continue). */
  _writeAll(bytes: Uint8Array): Promise<void> {
    return writeAll(this, bytes);
  }

  /** @internal Reads at `position` (null: the handle's position, which then advances). */
  _readInto(
    view: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<number> {
    return readInto(this, view, offset, length, position);
  }

  /** @internal One write (which may be short) and its recording. */
  _writeBytes(bytes: Uint8Array, position: number | null): Promise<number> {
    return writeBytes(this, bytes, position);
  }
}
