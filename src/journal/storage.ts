/**
 * The file system the file journal runs on: exactly the `fs/promises` calls it makes, so that
 * tests can run the real FileJournal on a simulated disk that loses power at any instant (the
 * crash tests' FaultyFs), while production uses node:fs (`nodeStorage`). Paths are absolute.
 * The HintsStore writes its files through the same port (durable-file.ts), so the same crashes
 * reach the hints.
 */
import * as fsp from 'node:fs/promises';
import { readFileSync, readlinkSync, watch } from 'node:fs';

export interface StorageStats {
  readonly size: number;
  readonly mtimeMs: number;
  isDirectory(): boolean;
}

export interface StorageBigIntStats {
  readonly ino: bigint;
  readonly dev: bigint;
  readonly mtimeMs: bigint;
}

/** An open file (or, opened with 'r', a directory to fsync). Positional I/O only. */
export interface StorageFileHandle {
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  writev(buffers: readonly Uint8Array[], position: number): Promise<{ bytesWritten: number }>;
  stat(): Promise<StorageStats>;
  stat(options: { bigint: true }): Promise<StorageBigIntStats>;
  readFile(encoding: 'utf8'): Promise<string>;
  writeFile(data: string, encoding: 'utf8'): Promise<void>;
  truncate(length: number): Promise<void>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export type StorageOpenFlags = 'r' | 'r+' | 'wx' | 'ax+' | 'a+';

export interface JournalStorage {
  /**
   * Flags used: 'r' (read), 'r+' (positional writes), 'wx' (create exclusively), 'ax+' (create
   * exclusively for appending and reading) and 'a+' (open for appending and reading). Appends
   * (O_APPEND) land at the end of the file whatever position is passed: that is what makes a
   * FENCE split a fragment's records cleanly, whoever writes after it.
   */
  open(path: string, flags: StorageOpenFlags): Promise<StorageFileHandle>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
  stat(path: string): Promise<StorageStats>;
  stat(path: string, options: { bigint: true }): Promise<StorageBigIntStats>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: string, options: { flag: 'wx' }): Promise<void>;
  link(existingPath: string, newPath: string): Promise<void>;
  rename(oldPath: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  /**
   * Identifies this boot of the machine ('' when unknown): lock holders recorded under another
   * boot id are dead. Optional; without it, boots are not told apart.
   */
  bootId?(): string;
  /** Identifies this process's pid namespace ('' when unknown). Optional. */
  pidNamespace?(): string;
  /**
   * Calls `onChange` when entries of `dir` change (fs.watch); returns a handle to stop, or
   * undefined when watching is not available (readers then poll). Optional.
   */
  watch?(dir: string, onChange: (file: string | null) => void): { close(): void } | undefined;
}

let linuxBootId: string | undefined;
let linuxPidNamespace: string | undefined;

/** Handles opened by nodeStorage: real files, whose `fd` synchronous syscalls may use. */
const realFiles = new WeakSet<StorageFileHandle>();

/**
 * The OS descriptor of `handle` when nodeStorage opened it (undefined for any other storage, or
 * a wrapper): the file journal writes a small commit with synchronous syscalls on it.
 */
export function realDescriptor(handle: StorageFileHandle): number | undefined {
  return realFiles.has(handle) ? (handle as fsp.FileHandle).fd : undefined;
}

/** node:fs, the storage of every FileJournal unless a test passes another. */
export const nodeStorage: JournalStorage = {
  open: async (path, flags) => {
    const handle = await fsp.open(path, flags);
    realFiles.add(handle);
    return handle;
  },
  mkdir: (path, options) => fsp.mkdir(path, options),
  stat: fsp.stat as JournalStorage['stat'],
  readFile: (path) => fsp.readFile(path),
  writeFile: (path, data, options) => fsp.writeFile(path, data, options),
  link: (existingPath, newPath) => fsp.link(existingPath, newPath),
  rename: (oldPath, newPath) => fsp.rename(oldPath, newPath),
  unlink: (path) => fsp.unlink(path),
  readdir: (path) => fsp.readdir(path),
  bootId: () => {
    if (linuxBootId === undefined) {
      try {
        linuxBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      } catch {
        linuxBootId = '';
      }
    }
    return linuxBootId;
  },
  pidNamespace: () => {
    if (linuxPidNamespace === undefined) {
      try {
        linuxPidNamespace = readlinkSync('/proc/self/ns/pid');
      } catch {
        linuxPidNamespace = '';
      }
    }
    return linuxPidNamespace;
  },
  watch: (dir, onChange) => {
    try {
      const watcher = watch(dir, { persistent: true }, (_event, file) => onChange(file));
      // Watching is an optimisation: on error, stop and let polling carry on.
      watcher.on('error', () => watcher.close());
      return watcher;
    } catch {
      return undefined;
    }
  },
};
