/**
 * Aiming dm-flakey at one file: where a preallocated file's blocks sit on the device (from
 * `filefrag -v`), and the multi-target table that corrupts writes there while every other sector
 * (ext4's metadata and its own journal, the hints, the recorded directory) works normally. So a
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
