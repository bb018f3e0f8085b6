/**
 * ShadowFs: the base file system `recoverylog snapshot` records through. It keeps names, hard
 * links and sizes but discards file contents, so that RecordedFs can record a tree that already
 * exists elsewhere: the tree is read once, from the source, and written only to the log.
 */
import { RecoveryLogError } from '../errors.js';
import type { BaseFileHandle, BaseFs, BaseStats } from '../recorded-fs.js';

/** Something in the source tree cannot be expressed in a recovery log. */
export class UnsupportedSourceError extends RecoveryLogError {
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`cannot snapshot ${path}: ${detail}`);
    this.path = path;
  }
}

function enoent(path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`ENOENT: no such file or directory, '${path}'`);
  err.code = 'ENOENT';
  return err;
}

interface ShadowFile {
  size: number;
  /** Content kept only for files registered with retain() (property sources). */
  content?: Uint8Array;
}

/**
 * A BaseFs that tracks file names, hard links and sizes, and discards written bytes except for
 * files registered with `retain` (whose content RecordedFs reads back on a rename onto a
 * property path). Lets RecordedFs record a tree that already exists elsewhere.
 */
export class ShadowFs implements BaseFs {
  readonly #files = new Map<string, ShadowFile>();
  readonly #dirs = new Set<string>();
  readonly #retained = new Set<string>();
  #nextFd = 1000;

  /** Keep the bytes written to `path` (it will be renamed onto a property). */
  retain(path: string): void {
    this.#retained.add(path);
  }

  /**
   * Declares an existing directory of the source tree, so that `lstat` reports it as RecordedFs
   * checks a parent directory before a rename or link (on a base other than node:fs).
   */
  addDirectory(path: string): void {
    this.#dirs.add(path);
  }

  async open(path: string, flags: string | number): Promise<BaseFileHandle> {
    if (flags !== 'w' && flags !== 'wx') {
      throw new UnsupportedSourceError(path, `ShadowFs opens only with 'w' or 'wx' (got ${flags})`);
    }
    if (flags === 'wx' && this.#files.has(path)) {
      const err: NodeJS.ErrnoException = new Error(`EEXIST: file already exists, '${path}'`);
      err.code = 'EEXIST';
      throw err;
    }
    const file: ShadowFile = { size: 0 };
    if (this.#retained.has(path)) file.content = new Uint8Array(0);
    this.#files.set(path, file);
    const stats = (): BaseStats => fileStats(file.size);
    return {
      fd: this.#nextFd++,
      write: async (buffer, offset, length, position) => {
        const at = position ?? file.size;
        if (file.content !== undefined) {
          const next = new Uint8Array(Math.max(file.content.length, at + length));
          next.set(file.content);
          next.set(buffer.subarray(offset, offset + length), at);
          file.content = next;
        }
        file.size = Math.max(file.size, at + length);
        return { bytesWritten: length };
      },
      read: async () => ({ bytesRead: 0 }),
      stat: async () => stats(),
      truncate: async (len = 0) => {
        file.size = len;
        if (file.content !== undefined) file.content = file.content.subarray(0, len);
      },
      datasync: async () => undefined,
      close: async () => undefined,
    };
  }

  async rename(oldPath: string, newPath: string): Promise<void> {
    const file = this.#files.get(oldPath);
    if (file === undefined) throw enoent(oldPath);
    this.#files.delete(oldPath);
    this.#files.set(newPath, file);
  }

  async link(existingPath: string, newPath: string): Promise<void> {
    const file = this.#files.get(existingPath);
    if (file === undefined) throw enoent(existingPath);
    this.#files.set(newPath, file);
  }

  async unlink(path: string): Promise<void> {
    if (!this.#files.delete(path)) throw enoent(path);
  }

  async rm(path: string, options?: { force?: boolean }): Promise<void> {
    if (!this.#files.delete(path) && options?.force !== true) throw enoent(path);
  }

  async rmdir(path: string): Promise<void> {
    this.#dirs.delete(path);
  }

  async mkdir(path: string): Promise<unknown> {
    this.#dirs.add(path);
    return undefined;
  }

  async truncate(path: string, len = 0): Promise<void> {
    const file = this.#files.get(path);
    if (file === undefined) throw enoent(path);
    file.size = len;
  }

  async readFile(path: string): Promise<Uint8Array> {
    const file = this.#files.get(path);
    if (file === undefined) throw enoent(path);
    if (file.content === undefined) {
      throw new UnsupportedSourceError(path, 'ShadowFs keeps no content for this file');
    }
    return file.content;
  }

  async readdir(): Promise<unknown[]> {
    return [];
  }

  async stat(path: string): Promise<BaseStats> {
    return this.lstat(path);
  }

  async lstat(path: string): Promise<BaseStats> {
    const file = this.#files.get(path);
    if (file !== undefined) return fileStats(file.size);
    if (this.#dirs.has(path)) return { size: 0, isFile: () => false, isDirectory: () => true };
    throw enoent(path);
  }
}

function fileStats(size: number): BaseStats {
  return { size, isFile: () => true, isDirectory: () => false };
}
