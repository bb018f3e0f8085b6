/**
 * DiskModel: a small in-memory file system that knows which of its state is durable.
 *
 * It is the persistence model of the simulated crash layer (after SQLite's crash VFS, RocksDB's
 * FaultInjectionTestFS and ALICE's abstract persistence model), deliberately weaker than ext4:
 *
 * - A file's bytes are `durable` (as of its last fsync/fdatasync) plus an ordered list of
 *   `pending` operations (writes and truncates) issued since. Reads see everything.
 * - A directory's entries are `durable` (as of its last fsync) plus whatever was linked, unlinked
 *   or renamed since. Creating a file, renaming or linking it, are directory operations: they are
 *   lost in a crash unless the directory was fsynced (RocksDB DeleteFilesCreatedAfterLastDirSync).
 * - `crash(fates)` returns the model of the disk after a power cut: each pending write is kept,
 *   dropped, torn at a byte offset, turned into garbage or zeros; each directory keeps or loses
 *   its unsynced entry changes. Everything in the result is durable.
 *
 * Every mutation is an `DiskEvent`, applied with `apply()`: FaultyFs logs the events of a run, so a
 * test can rebuild the disk as it was after any prefix of them and crash it there (record once,
 * crash at every point). Pure and synchronous; knows nothing of journals.
 */

export type Ino = number;

export const ROOT_INO: Ino = 1;

/** One mutation of the disk, in the order the program issued it. */
export type DiskEvent =
  | { readonly t: 'mkdir'; readonly parent: Ino; readonly name: string; readonly ino: Ino }
  | { readonly t: 'create'; readonly parent: Ino; readonly name: string; readonly ino: Ino }
  | { readonly t: 'write'; readonly ino: Ino; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly t: 'truncate'; readonly ino: Ino; readonly size: number }
  /**
   * fsync/fdatasync of a file, completed: the ops pending when it was called (seq < upTo) are
   * durable. Ops issued while it ran stay pending (a sync covers what came before its call).
   */
  | { readonly t: 'fsync'; readonly ino: Ino; readonly upTo: number }
  /** fsync of a directory, completed: its entries as they were when it was called are durable. */
  | { readonly t: 'dirsync'; readonly ino: Ino; readonly entries: ReadonlyMap<string, Ino> }
  | { readonly t: 'link'; readonly parent: Ino; readonly name: string; readonly ino: Ino }
  | { readonly t: 'unlink'; readonly parent: Ino; readonly name: string }
  | {
      readonly t: 'rename';
      readonly fromParent: Ino;
      readonly fromName: string;
      readonly toParent: Ino;
      readonly toName: string;
    };

/** A write or truncate issued since the file's last sync. `seq` orders them across files. */
export type PendingOp =
  | {
      readonly kind: 'write';
      readonly seq: number;
      readonly offset: number;
      readonly bytes: Uint8Array;
    }
  | { readonly kind: 'truncate'; readonly seq: number; readonly size: number };

/** What a crash does to one pending operation. */
export type WriteFate =
  /** It reached the disk whole. */
  | { readonly kind: 'keep' }
  /** It never reached the disk. */
  | { readonly kind: 'drop' }
  /** Only its first `keep` bytes reached the disk (a torn write; truncates are never torn). */
  | { readonly kind: 'torn'; readonly keep: number }
  /** Its range holds random bytes (the file size grew as if it was written). */
  | { readonly kind: 'garbage'; readonly seed: number }
  /** Its range holds zeros (size updated, data blocks not: ext4 delalloc after a cut). */
  | { readonly kind: 'zeros' };

/** Decides the fate of everything unsynced at a crash. */
export interface CrashFates {
  /** Fate of a pending op of file `ino` (`index` within that file's pending list). */
  op(ino: Ino, index: number, op: PendingOp): WriteFate;
  /** Whether directory `ino` keeps its entry changes made since its last fsync. */
  keepDirChanges(ino: Ino): boolean;
}

export interface FileInode {
  readonly kind: 'file';
  readonly ino: Ino;
  durable: Uint8Array;
  /** durable + every pending op: what reads see. */
  current: Uint8Array;
  pending: PendingOp[];
  mtimeMs: number;
}

export interface DirInode {
  readonly kind: 'dir';
  readonly ino: Ino;
  entries: Map<string, Ino>;
  durableEntries: Map<string, Ino>;
  mtimeMs: number;
}

export type Inode = FileInode | DirInode;

/** Thrown by the model for a call a real file system would reject (the caller maps `code`). */
export class DiskModelError extends Error {
  constructor(
    readonly code: 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'ENOTEMPTY' | 'EINVAL',
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

const EMPTY = new Uint8Array(0);

/** Applies one pending op to `bytes` (returns a new array when the size changes). */
function applyOp(bytes: Uint8Array, op: PendingOp): Uint8Array {
  if (op.kind === 'truncate') return resize(bytes, op.size);
  const end = op.offset + op.bytes.length;
  const out = end > bytes.length ? resize(bytes, end) : bytes;
  out.set(op.bytes, op.offset);
  return out;
}

function resize(bytes: Uint8Array, size: number): Uint8Array {
  if (size === bytes.length) return bytes;
  const out = new Uint8Array(size);
  out.set(size < bytes.length ? bytes.subarray(0, size) : bytes);
  return out;
}

/** A deterministic byte stream (xorshift32) for garbage fates. */
export function garbageBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export class DiskModel {
  readonly inodes = new Map<Ino, Inode>();
  #nextIno = ROOT_INO + 1;
  #seq = 0;
  /** Clock for mtimes; a crashed disk's files all look old (the reboot took a while). */
  now: () => number = () => Date.now();

  constructor() {
    this.inodes.set(ROOT_INO, {
      kind: 'dir',
      ino: ROOT_INO,
      entries: new Map(),
      durableEntries: new Map(),
      mtimeMs: 0,
    });
  }

  /** Sequence number the next pending op will get (a file sync called now covers those below). */
  get nextSeq(): number {
    return this.#seq;
  }

  /** The inode number the next created file or directory will get. */
  allocateIno(): Ino {
    return this.#nextIno++;
  }

  get(ino: Ino): Inode {
    const node = this.inodes.get(ino);
    if (node === undefined) throw new DiskModelError('ENOENT', `no inode ${ino}`);
    return node;
  }

  dir(ino: Ino): DirInode {
    const node = this.get(ino);
    if (node.kind !== 'dir') throw new DiskModelError('ENOTDIR', `inode ${ino} is not a directory`);
    return node;
  }

  file(ino: Ino): FileInode {
    const node = this.get(ino);
    if (node.kind !== 'file') throw new DiskModelError('EISDIR', `inode ${ino} is a directory`);
    return node;
  }

  /** Resolves an absolute POSIX path to an inode, or undefined when a component is missing. */
  lookup(path: string): Ino | undefined {
    let ino = ROOT_INO;
    for (const part of splitPath(path)) {
      const node = this.inodes.get(ino);
      if (node === undefined || node.kind !== 'dir') return undefined;
      const next = node.entries.get(part);
      if (next === undefined) return undefined;
      ino = next;
    }
    return ino;
  }

  /** Whether any file's bytes or any directory's entries are not durable. */
  hasUnsynced(): boolean {
    for (const node of this.inodes.values()) {
      if (
        node.kind === 'file'
          ? node.pending.length > 0
          : !sameEntries(node.entries, node.durableEntries)
      ) {
        return true;
      }
    }
    return false;
  }

  /** Number of pending ops over all files (the crash enumerators iterate over them). */
  pendingOps(): { ino: Ino; index: number; op: PendingOp }[] {
    const out: { ino: Ino; index: number; op: PendingOp }[] = [];
    for (const node of this.inodes.values()) {
      if (node.kind !== 'file') continue;
      node.pending.forEach((op, index) => out.push({ ino: node.ino, index, op }));
    }
    return out.sort((a, b) => a.op.seq - b.op.seq);
  }

  /** Directories whose entries changed since their last fsync. */
  unsyncedDirs(): Ino[] {
    const out: Ino[] = [];
    for (const node of this.inodes.values()) {
      if (node.kind === 'dir' && !sameEntries(node.entries, node.durableEntries))
        out.push(node.ino);
    }
    return out.sort((a, b) => a - b);
  }

  apply(event: DiskEvent): void {
    switch (event.t) {
      case 'mkdir':
      case 'create': {
        const parent = this.dir(event.parent);
        if (parent.entries.has(event.name)) {
          throw new DiskModelError('EEXIST', `${event.name} exists in directory ${event.parent}`);
        }
        if (this.inodes.has(event.ino))
          throw new DiskModelError('EINVAL', `inode ${event.ino} in use`);
        this.#nextIno = Math.max(this.#nextIno, event.ino + 1);
        const mtimeMs = this.now();
        this.inodes.set(
          event.ino,
          event.t === 'mkdir'
            ? {
                kind: 'dir',
                ino: event.ino,
                entries: new Map(),
                durableEntries: new Map(),
                mtimeMs,
              }
            : {
                kind: 'file',
                ino: event.ino,
                durable: EMPTY,
                current: EMPTY,
                pending: [],
                mtimeMs,
              },
        );
        parent.entries.set(event.name, event.ino);
        parent.mtimeMs = mtimeMs;
        return;
      }
      case 'write': {
        const file = this.file(event.ino);
        const op: PendingOp = {
          kind: 'write',
          seq: this.#seq++,
          offset: event.offset,
          bytes: event.bytes,
        };
        file.pending.push(op);
        // Copy on write: byte arrays are shared with clones and crash images.
        file.current = applyOp(file.current.slice(), op);
        file.mtimeMs = this.now();
        return;
      }
      case 'truncate': {
        const file = this.file(event.ino);
        const op: PendingOp = { kind: 'truncate', seq: this.#seq++, size: event.size };
        file.pending.push(op);
        file.current = applyOp(file.current.slice(), op);
        file.mtimeMs = this.now();
        return;
      }
      case 'fsync': {
        const file = this.file(event.ino);
        const covered = file.pending.filter((op) => op.seq < event.upTo);
        if (covered.length === 0) return;
        if (covered.length === file.pending.length) {
          file.durable = file.current;
        } else {
          let bytes: Uint8Array = file.durable.slice();
          for (const op of covered) bytes = applyOp(bytes, op);
          file.durable = bytes;
        }
        file.pending = file.pending.filter((op) => op.seq >= event.upTo);
        return;
      }
      case 'dirsync': {
        this.dir(event.ino).durableEntries = new Map(event.entries);
        return;
      }
      case 'link': {
        const parent = this.dir(event.parent);
        if (parent.entries.has(event.name)) {
          throw new DiskModelError('EEXIST', `${event.name} exists in directory ${event.parent}`);
        }
        this.file(event.ino);
        parent.entries.set(event.name, event.ino);
        parent.mtimeMs = this.now();
        return;
      }
      case 'unlink': {
        const parent = this.dir(event.parent);
        if (!parent.entries.delete(event.name)) {
          throw new DiskModelError('ENOENT', `${event.name} not in directory ${event.parent}`);
        }
        parent.mtimeMs = this.now();
        return;
      }
      case 'rename': {
        const from = this.dir(event.fromParent);
        const to = this.dir(event.toParent);
        const ino = from.entries.get(event.fromName);
        if (ino === undefined) {
          throw new DiskModelError(
            'ENOENT',
            `${event.fromName} not in directory ${event.fromParent}`,
          );
        }
        from.entries.delete(event.fromName);
        to.entries.set(event.toName, ino);
        from.mtimeMs = to.mtimeMs = this.now();
        return;
      }
    }
  }

  /**
   * The disk after a power cut: pending ops meet their fates (in issue order), each directory
   * keeps or loses its unsynced entry changes, unreachable inodes are gone, and everything left is
   * durable. Every mtime is 0: the crash happened long before anyone looks again.
   */
  crash(fates: CrashFates): DiskModel {
    const out = new DiskModel();
    out.now = this.now;
    out.#nextIno = this.#nextIno;
    const entriesOf = new Map<Ino, Map<string, Ino>>();
    for (const node of this.inodes.values()) {
      if (node.kind === 'dir') {
        entriesOf.set(
          node.ino,
          new Map(fates.keepDirChanges(node.ino) ? node.entries : node.durableEntries),
        );
      }
    }
    // Only what the root reaches survives (a lost directory entry orphans its whole subtree).
    const reachable = new Set<Ino>([ROOT_INO]);
    const queue: Ino[] = [ROOT_INO];
    while (queue.length > 0) {
      const ino = queue.pop()!;
      for (const child of entriesOf.get(ino)?.values() ?? []) {
        if (reachable.has(child)) continue;
        reachable.add(child);
        if (entriesOf.has(child)) queue.push(child);
      }
    }
    for (const ino of reachable) {
      const node = this.inodes.get(ino);
      if (node === undefined) continue;
      if (node.kind === 'dir') {
        const entries = new Map(
          [...entriesOf.get(ino)!].filter(([, child]) => reachable.has(child)),
        );
        out.inodes.set(ino, {
          kind: 'dir',
          ino,
          entries,
          durableEntries: new Map(entries),
          mtimeMs: 0,
        });
        continue;
      }
      let bytes = node.durable;
      node.pending.forEach((op, index) => {
        bytes = applyFate(
          bytes === node.durable ? bytes.slice() : bytes,
          op,
          fates.op(ino, index, op),
        );
      });
      out.inodes.set(ino, {
        kind: 'file',
        ino,
        durable: bytes,
        current: bytes,
        pending: [],
        mtimeMs: 0,
      });
    }
    return out;
  }

  /** A deep copy (pending state included). Byte arrays are shared: they are never mutated in place. */
  clone(): DiskModel {
    const out = new DiskModel();
    out.now = this.now;
    out.#nextIno = this.#nextIno;
    out.#seq = this.#seq;
    out.inodes.clear();
    for (const node of this.inodes.values()) {
      out.inodes.set(
        node.ino,
        node.kind === 'dir'
          ? {
              ...node,
              entries: new Map(node.entries),
              durableEntries: new Map(node.durableEntries),
            }
          : { ...node, pending: [...node.pending] },
      );
    }
    return out;
  }

  /** Every file reachable from the root, by absolute path (for tests and corpus capture). */
  files(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    const walk = (ino: Ino, prefix: string): void => {
      const node = this.inodes.get(ino);
      if (node === undefined) return;
      if (node.kind === 'file') {
        out.set(prefix, node.current);
        return;
      }
      for (const [name, child] of [...node.entries].sort(([a], [b]) =>
        a < b ? -1 : a > b ? 1 : 0,
      )) {
        walk(child, `${prefix}/${name}`);
      }
    };
    walk(ROOT_INO, '');
    return out;
  }

  /** A disk holding `files` (absolute path -> bytes), all durable, parents created as needed. */
  static fromFiles(files: ReadonlyMap<string, Uint8Array>): DiskModel {
    const disk = new DiskModel();
    disk.now = () => 0;
    for (const [path, bytes] of files) {
      const parts = splitPath(path);
      let parent = ROOT_INO;
      for (const part of parts.slice(0, -1)) {
        const existing = disk.dir(parent).entries.get(part);
        if (existing !== undefined) {
          parent = existing;
          continue;
        }
        const ino = disk.allocateIno();
        disk.apply({ t: 'mkdir', parent, name: part, ino });
        parent = ino;
      }
      const ino = disk.allocateIno();
      disk.apply({ t: 'create', parent, name: parts[parts.length - 1]!, ino });
      if (bytes.length > 0) disk.apply({ t: 'write', ino, offset: 0, bytes });
    }
    for (const node of disk.inodes.values()) {
      disk.apply(
        node.kind === 'dir'
          ? { t: 'dirsync', ino: node.ino, entries: node.entries }
          : { t: 'fsync', ino: node.ino, upTo: disk.nextSeq },
      );
    }
    disk.now = () => Date.now();
    return disk;
  }
}

function applyFate(bytes: Uint8Array, op: PendingOp, fate: WriteFate): Uint8Array {
  switch (fate.kind) {
    case 'keep':
      return applyOp(bytes, op);
    case 'drop':
      return bytes;
    case 'torn':
      if (op.kind === 'truncate') return fate.keep > 0 ? applyOp(bytes, op) : bytes;
      return fate.keep <= 0
        ? bytes
        : applyOp(bytes, {
            ...op,
            bytes: op.bytes.subarray(0, Math.min(fate.keep, op.bytes.length)),
          });
    case 'garbage':
      if (op.kind === 'truncate') return applyOp(bytes, op);
      return applyOp(bytes, { ...op, bytes: garbageBytes(op.bytes.length, fate.seed) });
    case 'zeros':
      if (op.kind === 'truncate') return applyOp(bytes, op);
      return applyOp(bytes, { ...op, bytes: new Uint8Array(op.bytes.length) });
  }
}

export function splitPath(path: string): string[] {
  if (!path.startsWith('/')) throw new DiskModelError('EINVAL', `not an absolute path: ${path}`);
  return path.split('/').filter((part) => part !== '' && part !== '.');
}

function sameEntries(a: ReadonlyMap<string, Ino>, b: ReadonlyMap<string, Ino>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, ino] of a) if (b.get(name) !== ino) return false;
  return true;
}
