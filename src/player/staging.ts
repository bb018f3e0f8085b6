import path from 'node:path';
import { encodeByteString, toFsPath } from '../wire/byte-string.js';
import type { Fnode } from '../wire/types.js';
import { LocalFsError, PlayerInvariantError, UnsafePathError } from './errors.js';
import type { TargetFileHandle, TargetFs } from './target-fs.js';
import { WriteBehind } from './write-behind.js';

/** Sub-directory of the target directory in which live fnodes are staged during playback. */
export const STAGING_DIR = '.fnodes';

/** Staged files held open at once; older handles are closed and reopened on demand. */
const DEFAULT_MAX_OPEN_FILES = 64;

/** `dir/.fnodes/<fnode>`: where the content of a live fnode is built up. */
export function stagedPath(dir: string, fnode: Fnode): string {
  return path.join(dir, STAGING_DIR, String(fnode));
}

/**
 * Resolves a recorded path (`/a/b`, relative to the recorded directory) under `dir`, refusing
 * anything that would escape `dir` or land in the staging directory.
 */
export function targetPath(dir: string, recorded: string): string {
  const joined = path.join(dir, recorded);
  const rel = path.relative(dir, joined);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new UnsafePathError(
      recorded,
      dir,
      'it resolves outside the directory or to the directory itself',
    );
  }
  if (rel === STAGING_DIR || rel.startsWith(`${STAGING_DIR}${path.sep}`)) {
    throw new UnsafePathError(
      recorded,
      dir,
      `it collides with the player's staging directory ${STAGING_DIR}`,
    );
  }
  return joined;
}

/**
 * Playback deletes its target directory first (and again on failure), so refuse one whose
 * deletion would be a disaster: empty, or a file-system root.
 */
export function checkTargetDir(dir: string): void {
  const resolved = path.resolve(dir);
  if (dir === '' || resolved === path.parse(resolved).root) {
    throw new UnsafePathError(
      dir,
      dir,
      'playback deletes the target directory, so it must not be empty or a file-system root',
    );
  }
}

/** What makeLive needs to know about the recovered state (a view of the FSM). */
export interface LiveState {
  liveNodes: ReadonlyMap<Fnode, { links: ReadonlySet<string>; mode?: number | undefined }>;
  properties: ReadonlyMap<string, string>;
  /** Recorded directories and their permission bits (absent: none recorded). */
  directories?: ReadonlyMap<string, number>;
}

function byPath<T>([a]: [string, T], [b]: [string, T]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The staged files of one playback: one file per live fnode under `dir/.fnodes`, written at the
 * offsets the log says (holes read as zeros), deleted when the fnode dies, and finally hard-linked
 * to every path of the fnode. A bounded number of handles stays open so that directories with
 * many live files do not exhaust file descriptors.
 *
 * Writes are write-behind (write-behind.ts): copied, queued and written in call order, so their
 * order is exactly the log's and only one touches a handle at a time. Everything else that
 * touches handles or files (create, remove, makeLive, closeAll) first waits for the queue to
 * drain, and a failed write fails the next call.
 */
export class StagingArea {
  readonly dir: string;
  readonly #fs: TargetFs;
  readonly #maxOpen: number;
  /** Fnodes with a staged file. */
  readonly #staged = new Set<Fnode>();
  /** Open handles, least recently used first. */
  readonly #open = new Map<Fnode, TargetFileHandle>();
  #bytesWritten = 0;
  readonly #writes = new WriteBehind((fnode, position, pieces, total) =>
    this.#writeNow(fnode, position, pieces, total),
  );
  /** stagedPath() per fnode: path.join per write is measurable at GB/s. */
  readonly #paths = new Map<Fnode, string>();

  private constructor(fs: TargetFs, dir: string, maxOpen: number) {
    this.#fs = fs;
    this.dir = dir;
    this.#maxOpen = Math.max(1, maxOpen);
  }

  /** Deletes `dir` entirely and creates an empty staging directory in it. */
  static async prepare(
    fs: TargetFs,
    dir: string,
    maxOpen = DEFAULT_MAX_OPEN_FILES,
  ): Promise<StagingArea> {
    checkTargetDir(dir);
    // Starting from an empty directory is what makes makeLive safe to re-run after a crash in it.
    await attempt('remove', dir, () => fs.rm(dir, { recursive: true, force: true }));
    const staging = path.join(dir, STAGING_DIR);
    await attempt('create directory', staging, () => fs.mkdir(staging, { recursive: true }));
    return new StagingArea(fs, dir, maxOpen);
  }

  get payloadBytesWritten(): number {
    return this.#bytesWritten;
  }

  /** Fnodes that currently have a staged file (ascending). */
  stagedFnodes(): Fnode[] {
    return [...this.#staged].sort((a, b) => a - b);
  }

  /** Creates the staged file of a new fnode; it must not exist yet. */
  async create(fnode: Fnode): Promise<void> {
    await this.flushWrites();
    const file = this.#path(fnode);
    const handle = await attempt('create staged file', file, () =>
      this.#fs.open(file, 'wx', 0o666),
    );
    this.#staged.add(fnode);
    await this.#remember(fnode, handle);
  }

  /**
   * Writes `bytes` at `position` of the fnode's staged file, behind the caller's back (see the
   * class comment): the bytes are copied, so the caller may reuse them once this resolves.
   * flushWrites() waits for the writes.
   */
  async write(fnode: Fnode, position: number, bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    this.#writes.throwIfFailed();
    if (!this.#staged.has(fnode)) {
      throw new PlayerInvariantError(`write to fnode ${fnode}, which has no staged file`);
    }
    await this.#writes.write(fnode, position, bytes);
  }

  /** Waits for every write accepted so far; throws the first write failure. */
  async flushWrites(): Promise<void> {
    await this.#writes.flush();
  }

  async #writeNow(
    fnode: Fnode,
    position: number,
    pieces: Uint8Array[],
    total: number,
  ): Promise<void> {
    const handle = await this.#handle(fnode);
    const file = this.#path(fnode);
    let done = 0;
    if (pieces.length > 1 && handle.writev !== undefined) {
      const writev = handle.writev.bind(handle);
      const { bytesWritten } = await attempt('write', file, () => writev(pieces, position));
      done = bytesWritten;
    }
    // Without writev, or after a short writev: plain writes for the rest.
    let index = 0;
    let skip = done;
    while (done < total) {
      let piece = pieces[index]!;
      index++;
      if (skip >= piece.length) {
        skip -= piece.length;
        continue;
      }
      piece = piece.subarray(skip);
      skip = 0;
      let pieceDone = 0;
      while (pieceDone < piece.length) {
        const at = pieceDone;
        const { bytesWritten } = await attempt('write', file, () =>
          handle.write(piece, at, piece.length - at, position + done),
        );
        if (bytesWritten <= 0) {
          throw new LocalFsError('write', file, new Error('the file system wrote no bytes'));
        }
        pieceDone += bytesWritten;
        done += bytesWritten;
      }
    }
    this.#bytesWritten += total;
  }

  #path(fnode: Fnode): string {
    let file = this.#paths.get(fnode);
    if (file === undefined) {
      file = stagedPath(this.dir, fnode);
      this.#paths.set(fnode, file);
    }
    return file;
  }

  /** The fnode died (its last link was removed): close and delete its staged file. */
  async remove(fnode: Fnode): Promise<void> {
    await this.flushWrites();
    if (!this.#staged.has(fnode)) {
      throw new PlayerInvariantError(`fnode ${fnode} died but has no staged file`);
    }
    await this.#close(fnode);
    const file = this.#path(fnode);
    await attempt('remove staged file', file, () => this.#fs.unlink(file));
    this.#staged.delete(fnode);
    // A dead fnode never comes back: drop its cached path, or a long tailing playback would
    // keep one entry per file ever deleted.
    this.#paths.delete(fnode);
  }

  /** Cuts or zero-extends the fnode's staged file to `length` bytes (a truncate op). */
  async truncate(fnode: Fnode, length: number): Promise<void> {
    await this.flushWrites();
    const handle = await this.#handle(fnode);
    const file = this.#path(fnode);
    if (handle.truncate === undefined) {
      throw new LocalFsError('truncate', file, new Error('the target file system cannot truncate'));
    }
    await attempt('truncate', file, () => handle.truncate!(length));
  }

  /**
   * Moves the recovered state into place: creates the recorded directories, hard-links each live
   * fnode to each of its paths (creating parent directories) after giving it its recorded mode,
   * removes the staged names and the staging directory, writes the property files (after the
   * files, so a property never appears before the files it describes), and last gives the
   * recorded directories their modes (deepest first: a directory without write permission must
   * not keep anything from being created in it). Returns the number of paths created.
   */
  async makeLive(state: LiveState): Promise<number> {
    await this.flushWrites();
    let created = 0;
    const live = [...state.liveNodes.entries()].sort(([a], [b]) => a - b);
    for (const [fnode] of live) {
      if (!this.#staged.has(fnode)) {
        throw new PlayerInvariantError(`live fnode ${fnode} has no staged file`);
      }
    }
    if (this.#staged.size !== live.length) {
      const extra = this.stagedFnodes().filter((f) => !state.liveNodes.has(f));
      throw new PlayerInvariantError(`staged files of dead fnodes remain: ${extra.join(', ')}`);
    }
    const directories = [...(state.directories ?? new Map<string, number>())].sort(byPath);
    for (const [dir] of directories) {
      const target = targetPath(this.dir, dir);
      await attempt('create directory', target, () =>
        this.#fs.mkdir(toFsPath(target), { recursive: true }),
      );
    }
    for (const [fnode, node] of live) {
      const source = this.#path(fnode);
      if (node.mode !== undefined) {
        await this.#close(fnode);
        await this.#chmod(source, node.mode);
      }
      for (const link of [...node.links].sort()) {
        const target = targetPath(this.dir, link);
        const parent = path.dirname(target);
        await attempt('create directory', parent, () =>
          this.#fs.mkdir(toFsPath(parent), { recursive: true }),
        );
        await attempt(`hard-link ${source} to`, target, () =>
          this.#fs.link(source, toFsPath(target)),
        );
        created++;
      }
      await this.remove(fnode);
    }
    const staging = path.join(this.dir, STAGING_DIR);
    await attempt('remove staging directory', staging, () => this.#fs.rmdir(staging));

    for (const [property, content] of [...state.properties.entries()].sort(byPath)) {
      const target = targetPath(this.dir, property);
      const parent = path.dirname(target);
      await attempt('create directory', parent, () =>
        this.#fs.mkdir(toFsPath(parent), { recursive: true }),
      );
      // The property's exact bytes (UTF-8, or the bytes a Gazette writer put there).
      const bytes = encodeByteString(content, `property ${property}`);
      await attempt('write property file', target, () =>
        this.#fs.writeFile(toFsPath(target), bytes, { flag: 'wx', mode: 0o666 }),
      );
      created++;
    }
    for (const [dir, mode] of directories.reverse())
      await this.#chmod(targetPath(this.dir, dir), mode);
    return created;
  }

  /** Sets recorded permission bits; a target without chmod holds no modes (see TargetFs). */
  async #chmod(file: string, mode: number): Promise<void> {
    const chmod = this.#fs.chmod;
    if (chmod === undefined) return;
    await attempt('chmod', file, () => chmod.call(this.#fs, toFsPath(file), mode & 0o7777));
  }

  /** Closes every open handle, ignoring errors (used on abort, before the directory is removed). */
  async closeAll(): Promise<void> {
    await this.#writes.settle();
    const handles = [...this.#open.values()];
    this.#open.clear();
    await Promise.allSettled(handles.map((h) => h.close()));
  }

  async #handle(fnode: Fnode): Promise<TargetFileHandle> {
    const open = this.#open.get(fnode);
    if (open !== undefined) {
      // Refresh its position in the LRU order.
      this.#open.delete(fnode);
      this.#open.set(fnode, open);
      return open;
    }
    if (!this.#staged.has(fnode)) {
      throw new PlayerInvariantError(`write to fnode ${fnode}, which has no staged file`);
    }
    const file = this.#path(fnode);
    const handle = await attempt('reopen staged file', file, () => this.#fs.open(file, 'r+'));
    await this.#remember(fnode, handle);
    return handle;
  }

  async #remember(fnode: Fnode, handle: TargetFileHandle): Promise<void> {
    this.#open.set(fnode, handle);
    while (this.#open.size > this.#maxOpen) {
      const oldest = this.#open.keys().next().value as Fnode;
      await this.#close(oldest);
    }
  }

  async #close(fnode: Fnode): Promise<void> {
    const handle = this.#open.get(fnode);
    if (handle === undefined) return;
    this.#open.delete(fnode);
    await attempt('close staged file', this.#path(fnode), () => handle.close());
  }
}

async function attempt<T>(action: string, file: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw new LocalFsError(action, file, err);
  }
}
