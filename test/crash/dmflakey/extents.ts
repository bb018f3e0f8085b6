/**
 * Aiming dm-flakey at some blocks only: the multi-target table that corrupts writes to given
 * sectors while every other sector works normally, and where those sectors are: a preallocated
 * file's blocks (`filefrag -v`), or the blocks an unmounted ext4 has free (`dumpe2fs`: where
 * files written later land, while ext4's metadata and its own journal stay intact). So a
 * corruption round tests the recovery log's checksums, not ext4's.
 */

/** A run of device sectors (512 bytes). */
export interface SectorRange {
  start: number;
  length: number;
}

/**
 * Physical extents from `filefrag -v` output, in 512-byte sectors. The block size comes from
 * the "File size of X is N (M blocks of B bytes)" line. Preallocated (unwritten) extents count:
 * they are where the file's future writes land.
 */
export function parseFilefrag(output: string): SectorRange[] {
  const blockSize = /blocks? of (\d+) bytes/.exec(output)?.[1];
  if (blockSize === undefined) throw new Error(`filefrag output without a block size:\n${output}`);
  const perBlock = Number(blockSize) / 512;
  if (!Number.isInteger(perBlock) || perBlock < 1) {
    throw new Error(`filefrag reports a block size of ${blockSize} bytes`);
  }
  const ranges: SectorRange[] = [];
  // " 0:        0..    2047:      34816..     36863:   2048:             last,unwritten,eof"
  const extent = /^\s*\d+:\s*\d+\.\.\s*\d+:\s*(\d+)\.\.\s*(\d+):\s*(\d+):/;
  for (const line of output.split('\n')) {
    const m = extent.exec(line);
    if (m === null) continue;
    const first = Number(m[1]);
    const blocks = Number(m[3]);
    if (Number(m[2]) - first + 1 !== blocks) {
      throw new Error(`inconsistent filefrag extent line: ${line.trim()}`);
    }
    ranges.push({ start: first * perBlock, length: blocks * perBlock });
  }
  return mergeRanges(ranges);
}

/** Sorted, with touching or overlapping ranges joined. */
export function mergeRanges(ranges: readonly SectorRange[]): SectorRange[] {
  const sorted = [...ranges].filter((r) => r.length > 0).sort((a, b) => a.start - b.start);
  const out: SectorRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.start + last.length) {
      last.length = Math.max(last.length, r.start + r.length - last.start);
    } else out.push({ ...r });
  }
  return out;
}

/** A piece of a device-mapper table: `length` sectors from `start`, mapped the same way. */
export interface TableSegment<Mode> extends SectorRange {
  mode: Mode;
}

/**
 * Splits a device of `sectors` sectors into segments: `inside` over the given ranges, `outside`
 * everywhere else (ranges beyond the device are an error).
 */
export function segmentsFor<Mode>(
  sectors: number,
  ranges: readonly SectorRange[],
  inside: Mode,
  outside: Mode,
): TableSegment<Mode>[] {
  const out: TableSegment<Mode>[] = [];
  let at = 0;
  for (const r of mergeRanges(ranges)) {
    if (r.start + r.length > sectors) {
      throw new RangeError(
        `sectors [${r.start}, ${r.start + r.length}) lie beyond the ${sectors}-sector device`,
      );
    }
    if (r.start > at) out.push({ start: at, length: r.start - at, mode: outside });
    out.push({ start: r.start, length: r.length, mode: inside });
    at = r.start + r.length;
  }
  if (at < sectors) out.push({ start: at, length: sectors - at, mode: outside });
  return out;
}

/**
 * The blocks `dumpe2fs` lists as free, in 512-byte sectors (merged). Only the per-group lines
 * ("  Free blocks: 6169-32767, 40000") count; the superblock's unindented "Free blocks: N" line
 * is a count, not a block. The block size comes from the "Block size:" line.
 *
 * Aimed at a file system that is unmounted (so its bitmaps on disk are current): every block in
 * use then (ext4's own metadata, its journal, directories, files written so far) is left out,
 * and what is free is where files written later will land.
 */
export function parseFreeBlocks(output: string): SectorRange[] {
  const blockSize = /^Block size:\s*(\d+)/m.exec(output)?.[1];
  if (blockSize === undefined) throw new Error(`dumpe2fs output without a block size:\n${output}`);
  const perBlock = Number(blockSize) / 512;
  if (!Number.isInteger(perBlock) || perBlock < 1) {
    throw new Error(`dumpe2fs reports a block size of ${blockSize} bytes`);
  }
  const ranges: SectorRange[] = [];
  for (const line of output.split('\n')) {
    const m = /^\s+Free blocks:\s*(.*)$/.exec(line);
    if (m === null) continue;
    for (const part of (m[1] ?? '').split(',')) {
      const item = part.trim();
      if (item === '') continue;
      const range = /^(\d+)(?:-(\d+))?$/.exec(item);
      if (range === null)
        throw new Error(`unreadable free block range "${item}" in: ${line.trim()}`);
      const first = Number(range[1]);
      const last = range[2] === undefined ? first : Number(range[2]);
      if (last < first) throw new Error(`free block range ${item} ends before it begins`);
      ranges.push({ start: first * perBlock, length: (last - first + 1) * perBlock });
    }
  }
  return mergeRanges(ranges);
}
