/**
 * What RecordedFs needs of its base file system. node:fs `promises` and a memfs Volume's
 * `promises` fit; the optional members are used by the pass-through calls (reads and the like)
 * when the base has them.
 */

/** What RecordedFs needs of a stat result (node:fs Stats and memfs Stats both fit). */
export interface BaseStats {
  size: number | bigint;
  mode?: number | bigint;
  ino?: number | bigint;
  dev?: number | bigint;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink?(): boolean;
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
  stat(options?: { bigint?: boolean }): Promise<BaseStats>;
  truncate(len?: number): Promise<void>;
  /** Both have it; a base without it cannot change modes (NotSupportedError). */
  chmod?(mode: number): Promise<void>;
  datasync(): Promise<void>;
  /** memfs implements it but does not declare it: fall back to datasync when absent. */
  sync?(): Promise<void>;
  close(): Promise<void>;
}

/** A member of the base that RecordedFs only passes calls through to. */
export type PassThroughFn = (...args: never[]) => unknown;

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
  access?: PassThroughFn;
  readlink?: PassThroughFn;
  realpath?: PassThroughFn;
  opendir?: PassThroughFn;
  statfs?: PassThroughFn;
  watch?: PassThroughFn;
  mkdtemp?: PassThroughFn;
  chmod?(path: string, mode: number): Promise<void>;
  lchmod?(path: string, mode: number): Promise<void>;
}
