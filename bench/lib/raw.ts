/**
 * Baselines: the same bytes moved with plain synchronous syscalls, the fastest node can do
 * without the library. Also the helpers that pull a log's bytes out of a journal for them.
 */
import {
  closeSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
  type PathLike,
} from 'node:fs';
import { join } from 'node:path';
import type { Journal } from '../../src/journal/journal.js';
import { scanFrames } from './frames.js';

/** Every committed byte of `journal`, read with non-blocking reads up to its head. */
export async function readJournal(journal: Journal): Promise<Uint8Array> {
  const head = await journal.head();
  const out = new Uint8Array(head);
  let offset = 0;
  while (offset < head) {
    const r = await journal.read(offset, { blocking: false, maxBytes: 4 * 1024 * 1024 });
    if (r.offset !== offset) throw new Error(`journal ${journal.name} jumped from ${offset}`);
    const n = Math.min(r.bytes.length, head - offset);
    out.set(r.bytes.subarray(0, n), offset);
    offset += n;
  }
  return out;
}

/** The log cut into its frames (each with its Write payload), as the Recorder appended them. */
export function splitFrames(log: Uint8Array): Uint8Array[] {
  const { frames, consumed } = scanFrames(log);
  if (consumed !== log.length) throw new Error(`log has ${log.length - consumed} trailing bytes`);
  return frames.map((f) => log.subarray(f.begin, f.end));
}

/** Appends `chunks` to a new file with one write(2) each, then one fdatasync. */
export function writeChunksDurably(path: PathLike, chunks: readonly Uint8Array[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const c of chunks) writeSync(fd, c);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The playback baseline: reads a log file sequentially and writes every Write payload into a
 * file per fnode under `dir` at its offset. No fsync: the Player does not sync either (its
 * durability point is the materialised directory, which the caller syncs if it wants to).
 */
export function replayRaw(logPath: string, dir: string, readSize = 1024 * 1024): number {
  mkdirSync(dir, { recursive: true });
  const fds = new Map<number, number>();
  const fdFor = (fnode: number): number => {
    let fd = fds.get(fnode);
    if (fd === undefined) {
      fd = openSync(join(dir, String(fnode)), 'w');
      fds.set(fnode, fd);
    }
    return fd;
  };
  const log = openSync(logPath, 'r');
  let buf = Buffer.alloc(readSize);
  let filled = 0;
  let base = 0;
  let payloadBytes = 0;
  try {
    for (;;) {
      if (filled === buf.length) {
        // A frame larger than the buffer: grow it.
        const bigger = Buffer.alloc(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const n = readSync(log, buf, filled, buf.length - filled, base + filled);
      if (n === 0) break;
      filled += n;
      const { frames, consumed } = scanFrames(buf.subarray(0, filled), base);
      for (const f of frames) {
        if (f.isCreate) fdFor(f.seqNo);
        if (f.write && f.write.length > 0) {
          const at = f.write.payloadBegin - base;
          writeSync(fdFor(f.write.fnode), buf, at, f.write.length, f.write.offset);
          payloadBytes += f.write.length;
        }
      }
      buf.copy(buf, 0, consumed, filled);
      filled -= consumed;
      base += consumed;
    }
    if (filled !== 0) throw new Error(`${logPath} ends with ${filled} bytes of a partial frame`);
  } finally {
    closeSync(log);
    for (const fd of fds.values()) closeSync(fd);
  }
  return payloadBytes;
}
