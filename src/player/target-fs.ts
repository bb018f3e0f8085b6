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
  close(): Promise<void>;
}

export interface TargetFs {
  rm(path: string, options: { recursive: true; force: true }): Promise<void>;
  mkdir(path: string, options: { recursive: true }): Promise<string | undefined>;
  open(path: string, flags: string, mode?: number): Promise<TargetFileHandle>;
  link(existingPath: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  writeFile(path: string, data: Uint8Array, options: { flag: string; mode: number }): Promise<void>;
}

/** The real file system. */
export const nodeTargetFs: TargetFs = nodeFs;
