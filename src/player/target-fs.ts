import { promises as nodeFs } from 'node:fs';

/**
 * The slice of a `fs/promises`-shaped API the Player needs to rebuild a directory. Both
 * `node:fs`'s `promises` and a memfs `vol.promises` satisfy it (memfs implements hard links, so
 * materialisation behaves the same on both).
 */
export interface TargetFileHandle {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  /**
   * Optional positional gather write (node's FileHandle has it): the Player then writes runs of
   * consecutive payloads with one call. Without it, they are written one by one.
   */
  writev?(buffers: Uint8Array[], position: number): Promise<{ bytesWritten: number }>;
  /**
   * Cuts or zero-extends the file (a recorded truncate op; node's and memfs's handles have it).
   * Optional so that minimal targets keep working on logs without truncate ops.
   */
  truncate?(len: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Paths of recovered files are Buffers when their recorded names are not UTF-8 (Gazette logs may
 * hold any bytes; see wire/byte-string.ts): node:fs takes them as the exact bytes of the name.
 */
export interface TargetFs {
  rm(path: string, options: { recursive: true; force: true }): Promise<void>;
  mkdir(path: string | Buffer, options: { recursive: true }): Promise<string | undefined>;
  open(path: string, flags: string, mode?: number): Promise<TargetFileHandle>;
  link(existingPath: string, newPath: string | Buffer): Promise<void>;
  unlink(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  writeFile(
    path: string | Buffer,
    data: Uint8Array,
    options: { flag: string; mode: number },
  ): Promise<void>;
  /**
   * Sets recorded permission bits (files and directories, once the recovered tree is complete).
   * A target without it holds no modes: recovered files and directories keep the modes they
   * were created with (node:fs and memfs have it).
   */
  chmod?(path: string | Buffer, mode: number): Promise<void>;
}

/** The real file system. */
export const nodeTargetFs: TargetFs = nodeFs;
