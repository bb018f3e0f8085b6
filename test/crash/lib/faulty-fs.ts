/**
 * FaultyFs: a `fs/promises`-shaped file system over a DiskModel, for running the real FileJournal
 * (through its injectable storage) on a disk that can lose power at any instant.
 *
 * - Every mutation becomes a DiskEvent, applied to the model and appended to `events`, so a test
 *   can rebuild the disk after any prefix of the run (`DiskTrace`) and crash it there.
 * - Writes take effect at once (in the page cache); a file or directory sync takes effect when
 *   its promise settles, one macrotask later, and covers what was issued before the call. Code
 *   that acknowledges before awaiting its sync therefore acknowledges before the event exists,
 *   and a crash between the two loses the acknowledged bytes.
 * - Disk faults (`DiskFaults`, kept across crashes) make the disk itself misbehave, for the
 *   seeded-bug suite: a lying file sync (fsync/fdatasync succeed and make nothing durable) and a
 *   directory fsync that does nothing. The journal above runs unchanged and must be caught
 *   acknowledging what a crash then loses.
 * - `crash(fates)` freezes this instance (every later call, including syncs in flight, fails with
 *   EIO: the machine is down) and returns a new FaultyFs over the crashed disk, with a new boot
 *   id, as the machine looks after the reboot. The journal's lock files left behind are then
 *   recognised as stale by the journal's own rules (holder from an earlier boot).
 */
import { randomBytes } from 'node:crypto';
import {
  DiskModel,
  DiskModelError,
  ROOT_INO,
  splitPath,
  type CrashFates,
  type DiskEvent,
  type Ino,
} from './disk-model.js';

export interface FaultyStats {
  readonly size: number;
  readonly ino: number;
  readonly dev: number;
  readonly mtimeMs: number;
  isDirectory(): boolean;
  isFile(): boolean;
}

export interface FaultyBigIntStats {
  readonly size: bigint;
  readonly ino: bigint;
  readonly dev: bigint;
  readonly mtimeMs: bigint;
  isDirectory(): boolean;
  isFile(): boolean;
}

export type FsErrorCode =
  'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'ENOTEMPTY' | 'EINVAL' | 'EBADF' | 'EIO';

/** An Error shaped like Node's system errors (`code`, `syscall`, `path`). */
export function fsError(code: FsErrorCode, syscall: string, path: string, detail = ''): Error {
  const error = new Error(`${code}: ${syscall} '${path}'${detail ? ` (${detail})` : ''}`);
  return Object.assign(error, { code, syscall, path, errno: -1 });
}

/** Thrown into every call on a crashed (frozen) FaultyFs. */
export const MACHINE_DOWN = 'simulated power cut: the machine is down';

let bootCounter = 0;

/** Ways the simulated disk breaks its own promises (all off by default). */
export interface DiskFaults {
  /** fsync/fdatasync of a file resolve as usual but make none of its pending writes durable. */
  lyingSync?: boolean;
  /** fsync of a directory resolves as usual but makes none of its entry changes durable. */
  noDirSync?: boolean;
}

export interface FaultyFsOptions {
  /** Appends every mutation to `events` (default true). */
  record?: boolean;
  /** Disk faults of this machine (kept by `crash`: the same disk after the reboot). */
  faults?: DiskFaults;
}

export class FaultyFs {
  readonly model: DiskModel;
  /** Every mutation applied through this instance, in order. */
  readonly events: DiskEvent[] = [];
  readonly #bootId: string;
  readonly #record: boolean;
  readonly faults: Readonly<DiskFaults>;
  #frozen = false;
  /** Syncs called but not completed (crash() drops them). */
  #inflightSyncs = 0;
  /** Called after each event is appended (the harness samples trace positions). */
  onEvent: ((event: DiskEvent, index: number) => void) | undefined;

  constructor(model: DiskModel = new DiskModel(), options: FaultyFsOptions = {}) {
    this.model = model;
    this.#record = options.record ?? true;
    this.faults = { ...options.faults };
    this.#bootId = `sim-boot-${++bootCounter}-${randomBytes(4).toString('hex')}`;
  }

  /** The machine's boot id: the file journal's lock judges holders from older boots dead. */
  bootId(): string {
    return this.#bootId;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  get syncsInFlight(): number {
    return this.#inflightSyncs;
  }

  /** Stops this machine: every later call (and every sync still running) fails with EIO. */
  freeze(): void {
    this.#frozen = true;
  }

  /** Power cut now: freezes this instance and returns the machine after the reboot. */
  crash(fates: CrashFates): FaultyFs {
    this.freeze();
    return new FaultyFs(this.model.crash(fates), { record: this.#record, faults: this.faults });
  }

  // ---- fs/promises surface used by the file journal -----------------------------------------

  async open(path: string, flags: string): Promise<FaultyFileHandle> {
    this.#check('open', path);
    const existing = this.model.lookup(path);
    switch (flags) {
      case 'r':
      case 'r+': {
        if (existing === undefined) throw fsError('ENOENT', 'open', path);
        const node = this.model.get(existing);
        if (node.kind === 'dir' && flags === 'r+') throw fsError('EISDIR', 'open', path);
        return new FaultyFileHandle(this, existing, path, flags === 'r+');
      }
      case 'wx':
      case 'w':
      case 'a': {
        if (existing !== undefined) {
          if (flags === 'wx') throw fsError('EEXIST', 'open', path);
          if (this.model.get(existing).kind === 'dir') throw fsError('EISDIR', 'open', path);
          if (flags === 'w') this.emit({ t: 'truncate', ino: existing, size: 0 });
          return new FaultyFileHandle(this, existing, path, true);
        }
        const { parent, name } = this.#parentOf('open', path);
        const ino = this.model.allocateIno();
        this.emit({ t: 'create', parent, name, ino });
        return new FaultyFileHandle(this, ino, path, true);
      }
      case 'ax+':
      case 'a+': {
        // O_APPEND: every write lands at the end of the file whatever position is passed.
        if (existing !== undefined) {
          if (flags === 'ax+') throw fsError('EEXIST', 'open', path);
          if (this.model.get(existing).kind === 'dir') throw fsError('EISDIR', 'open', path);
          return new FaultyFileHandle(this, existing, path, true, true);
        }
        const { parent, name } = this.#parentOf('open', path);
        const ino = this.model.allocateIno();
        this.emit({ t: 'create', parent, name, ino });
        return new FaultyFileHandle(this, ino, path, true, true);
      }
      default:
        throw fsError('EINVAL', 'open', path, `flags ${flags} not modelled`);
    }
  }

  async mkdir(path: string, options?: { recursive?: boolean }): Promise<string | undefined> {
    this.#check('mkdir', path);
    const parts = splitPath(path);
    let parent = ROOT_INO;
    let first: string | undefined;
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i]!;
      const dir = this.model.get(parent);
      if (dir.kind !== 'dir') throw fsError('ENOTDIR', 'mkdir', path);
      const existing = dir.entries.get(name);
      if (existing !== undefined) {
        if (i === parts.length - 1 && options?.recursive !== true)
          throw fsError('EEXIST', 'mkdir', path);
        parent = existing;
        continue;
      }
      if (i < parts.length - 1 && options?.recursive !== true)
        throw fsError('ENOENT', 'mkdir', path);
      const ino = this.model.allocateIno();
      this.emit({ t: 'mkdir', parent, name, ino });
      first ??= '/' + parts.slice(0, i + 1).join('/');
      parent = ino;
    }
    if (this.model.get(parent).kind !== 'dir') throw fsError('ENOTDIR', 'mkdir', path);
    return first;
  }

  stat(path: string): Promise<FaultyStats>;
  stat(path: string, options: { bigint: true }): Promise<FaultyBigIntStats>;
  async stat(
    path: string,
    options?: { bigint?: boolean },
  ): Promise<FaultyStats | FaultyBigIntStats> {
    this.#check('stat', path);
    const ino = this.model.lookup(path);
    if (ino === undefined) throw fsError('ENOENT', 'stat', path);
    return this.statOf(ino, options?.bigint === true);
  }

  readFile(path: string): Promise<Buffer>;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  async readFile(path: string, encoding?: 'utf8'): Promise<Buffer | string> {
    this.#check('readFile', path);
    const ino = this.model.lookup(path);
    if (ino === undefined) throw fsError('ENOENT', 'open', path);
    const node = this.model.get(ino);
    if (node.kind === 'dir') throw fsError('EISDIR', 'read', path);
    const bytes = Buffer.from(node.current);
    return encoding === undefined ? bytes : bytes.toString(encoding);
  }

  async writeFile(
    path: string,
    data: string | Uint8Array,
    options?: { flag?: string },
  ): Promise<void> {
    const handle = await this.open(path, options?.flag ?? 'w');
    try {
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
  }

  async link(existingPath: string, newPath: string): Promise<void> {
    this.#check('link', newPath);
    const ino = this.model.lookup(existingPath);
    if (ino === undefined) throw fsError('ENOENT', 'link', existingPath);
    if (this.model.get(ino).kind === 'dir') throw fsError('EISDIR', 'link', existingPath);
    const { parent, name } = this.#parentOf('link', newPath);
    if (this.model.dir(parent).entries.has(name)) throw fsError('EEXIST', 'link', newPath);
    this.emit({ t: 'link', parent, name, ino });
  }

  async rename(oldPath: string, newPath: string): Promise<void> {
    this.#check('rename', oldPath);
    const from = this.#parentOf('rename', oldPath);
    if (!this.model.dir(from.parent).entries.has(from.name))
      throw fsError('ENOENT', 'rename', oldPath);
    const to = this.#parentOf('rename', newPath);
    const ino = this.model.dir(from.parent).entries.get(from.name);
    // POSIX: renaming a name onto another link of the same file does nothing.
    if (this.model.dir(to.parent).entries.get(to.name) === ino) return;
    this.emit({
      t: 'rename',
      fromParent: from.parent,
      fromName: from.name,
      toParent: to.parent,
      toName: to.name,
    });
  }

  async unlink(path: string): Promise<void> {
    this.#check('unlink', path);
    const { parent, name } = this.#parentOf('unlink', path);
    const ino = this.model.dir(parent).entries.get(name);
    if (ino === undefined) throw fsError('ENOENT', 'unlink', path);
    if (this.model.get(ino).kind === 'dir') throw fsError('EISDIR', 'unlink', path);
    this.emit({ t: 'unlink', parent, name });
  }

  async readdir(path: string): Promise<string[]> {
    this.#check('scandir', path);
    const ino = this.model.lookup(path);
    if (ino === undefined) throw fsError('ENOENT', 'scandir', path);
    const node = this.model.get(ino);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', path);
    return [...node.entries.keys()].sort();
  }

  // ---- internals shared with handles ------------------------------------------------------------

  /** Applies and records one mutation. */
  emit(event: DiskEvent): void {
    try {
      this.model.apply(event);
    } catch (error) {
      if (error instanceof DiskModelError) throw fsError(error.code, event.t, '', error.message);
      throw error;
    }
    if (this.#record) {
      this.events.push(event);
      this.onEvent?.(event, this.events.length);
    }
  }

  /**
   * A sync: snapshots what it covers now, makes it durable one macrotask later (or, under a
   * lying-sync / no-dir-sync disk fault, only pretends to: it resolves the same way and records
   * no event, so nothing it covered becomes durable).
   */
  async sync(ino: Ino, path: string): Promise<void> {
    this.#check('fsync', path);
    const node = this.model.get(ino);
    const lying = node.kind === 'file' ? this.faults.lyingSync : this.faults.noDirSync;
    const event: DiskEvent =
      node.kind === 'file'
        ? { t: 'fsync', ino, upTo: this.model.nextSeq }
        : { t: 'dirsync', ino, entries: new Map(node.entries) };
    this.#inflightSyncs++;
    try {
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.#check('fsync', path);
      if (lying !== true) this.emit(event);
    } finally {
      this.#inflightSyncs--;
    }
  }

  statOf(ino: Ino, bigint: boolean): FaultyStats | FaultyBigIntStats {
    const node = this.model.get(ino);
    const size = node.kind === 'file' ? node.current.length : 4096;
    const isDirectory = (): boolean => node.kind === 'dir';
    const isFile = (): boolean => node.kind === 'file';
    if (bigint) {
      return {
        size: BigInt(size),
        ino: BigInt(ino),
        dev: 1n,
        mtimeMs: BigInt(Math.floor(node.mtimeMs)),
        isDirectory,
        isFile,
      };
    }
    return { size, ino, dev: 1, mtimeMs: node.mtimeMs, isDirectory, isFile };
  }

  check(syscall: string, path: string): void {
    this.#check(syscall, path);
  }

  #check(syscall: string, path: string): void {
    if (this.#frozen) throw fsError('EIO', syscall, path, MACHINE_DOWN);
  }

  #parentOf(syscall: string, path: string): { parent: Ino; name: string } {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) throw fsError('EINVAL', syscall, path);
    const parent = this.model.lookup('/' + parts.join('/'));
    if (parent === undefined) throw fsError('ENOENT', syscall, path);
    if (this.model.get(parent).kind !== 'dir') throw fsError('ENOTDIR', syscall, path);
    return { parent, name };
  }
}

/** An open file (or directory, for fsync) of a FaultyFs. Positional I/O only, like the journal's. */
export class FaultyFileHandle {
  #closed = false;

  constructor(
    private readonly fs: FaultyFs,
    readonly ino: Ino,
    readonly path: string,
    private readonly writable: boolean,
    /** Opened O_APPEND: writes ignore their position and land at the end. */
    private readonly append = false,
  ) {}

  /** Where a write asked for `position` lands. */
  #at(position: number): number {
    if (!this.append) return position;
    const node = this.fs.model.get(this.ino);
    return node.kind === 'file' ? node.current.length : position;
  }

  get fd(): number {
    return this.ino;
  }

  async read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number; buffer: Uint8Array }> {
    this.#check('read');
    const node = this.fs.model.get(this.ino);
    if (node.kind === 'dir') throw fsError('EISDIR', 'read', this.path);
    const available = Math.max(0, Math.min(length, node.current.length - position));
    if (available > 0) buffer.set(node.current.subarray(position, position + available), offset);
    return { bytesRead: available, buffer };
  }

  async write(
    buffer: Uint8Array,
    offset = 0,
    length = buffer.length - offset,
    position = 0,
  ): Promise<{ bytesWritten: number; buffer: Uint8Array }> {
    this.#checkWrite('write');
    if (length > 0) {
      this.fs.emit({
        t: 'write',
        ino: this.ino,
        offset: this.#at(position),
        // A copy, as write(2) takes one (Buffer#slice would be a view of the caller's buffer).
        bytes: Uint8Array.from(buffer.subarray(offset, offset + length)),
      });
    }
    return { bytesWritten: length, buffer };
  }

  async writev(
    buffers: readonly Uint8Array[],
    position: number,
  ): Promise<{ bytesWritten: number; buffers: readonly Uint8Array[] }> {
    this.#checkWrite('writev');
    const bytes = Buffer.concat(buffers);
    // One pending write per call: writev is one request, torn only by the crash fates.
    if (bytes.length > 0) {
      this.fs.emit({ t: 'write', ino: this.ino, offset: this.#at(position), bytes });
    }
    return { bytesWritten: bytes.length, buffers };
  }

  stat(): Promise<FaultyStats>;
  stat(options: { bigint: true }): Promise<FaultyBigIntStats>;
  async stat(options?: { bigint?: boolean }): Promise<FaultyStats | FaultyBigIntStats> {
    this.#check('fstat');
    return this.fs.statOf(this.ino, options?.bigint === true);
  }

  readFile(): Promise<Buffer>;
  readFile(encoding: 'utf8'): Promise<string>;
  async readFile(encoding?: 'utf8'): Promise<Buffer | string> {
    this.#check('read');
    const node = this.fs.model.get(this.ino);
    if (node.kind === 'dir') throw fsError('EISDIR', 'read', this.path);
    const bytes = Buffer.from(node.current);
    return encoding === undefined ? bytes : bytes.toString(encoding);
  }

  async writeFile(data: string | Uint8Array, encoding: 'utf8' = 'utf8'): Promise<void> {
    this.#checkWrite('write');
    const bytes = typeof data === 'string' ? Buffer.from(data, encoding) : data;
    this.fs.emit({ t: 'truncate', ino: this.ino, size: 0 });
    if (bytes.length > 0)
      this.fs.emit({ t: 'write', ino: this.ino, offset: 0, bytes: bytes.slice() });
  }

  async truncate(length = 0): Promise<void> {
    this.#checkWrite('ftruncate');
    this.fs.emit({ t: 'truncate', ino: this.ino, size: length });
  }

  datasync(): Promise<void> {
    return this.sync();
  }

  async sync(): Promise<void> {
    this.#check('fsync');
    await this.fs.sync(this.ino, this.path);
  }

  async close(): Promise<void> {
    if (this.#closed) throw fsError('EBADF', 'close', this.path);
    this.#closed = true;
  }

  #check(syscall: string): void {
    if (this.#closed) throw fsError('EBADF', syscall, this.path);
    this.fs.check(syscall, this.path);
  }

  #checkWrite(syscall: string): void {
    this.#check(syscall);
    if (!this.writable) throw fsError('EBADF', syscall, this.path, 'opened read-only');
  }
}
