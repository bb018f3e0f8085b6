/**
 * Positional I/O helpers of the file journal, and loading an index file into a FragmentIndex
 * (whole, or what was appended since the last look), shared by the reader (fragment.ts), the
 * chain discovery, the takeover and the writer.
 */
import { crc32cUpdate } from '../crc32c.js';
import { JournalCorruptError, errorCode } from './errors.js';
import { FragmentDamage, FragmentIndex } from './fragment-index.js';
import { RECORD_MAX_BYTES } from './fragment-record.js';
import { parseLegacyCommits } from './legacy-fragment.js';
import type { JournalStorage, StorageFileHandle } from './storage.js';

/** At most this many buffers per writev call (Linux IOV_MAX). */
const MAX_IOVECS = 1024;
/** Large data is checksummed in reads of this size. */
export const IO_CHUNK = 4 * 1024 * 1024;

/** Index records are parsed in reads of at most this size (a reused buffer). */
const INDEX_WINDOW = 256 * 1024;
/**
 * After an INLINE record of more than this many bytes, the next read of the index is a probe of
 * PROBE_BYTES (about one record header): large inline data is skipped, not read twice (here at
 * load, again when played). Smaller records are read through. A trade of reads for bytes: a read
 * costs 65-95 µs on the I/O pool here, so on a warm page cache reading through is faster (30 MiB
 * of 60 KiB commits: 31 ms read through, 57 ms probing, 1/40 of the bytes).
 */
const SKIP_INLINE_FROM = 32 * 1024;
const PROBE_BYTES = 1024;

/** Reads up to `length` bytes at `position` into `target[at...]`; fewer only at end of file. */
export async function readInto(
  handle: StorageFileHandle,
  position: number,
  target: Uint8Array,
  at: number,
  length: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(target, at + done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

export async function readFully(
  handle: StorageFileHandle,
  position: number,
  length: number,
): Promise<Buffer> {
  // Not zero-filled: every byte is overwritten below, or the short result is cut to what was read.
  const buffer = Buffer.allocUnsafeSlow(length);
  const done = await readInto(handle, position, buffer, 0, length);
  return done < length ? buffer.subarray(0, done) : buffer;
}

/** Positional write of all `buffers`, in groups of IOV_MAX, finishing any short write. */
export async function writeFully(
  handle: StorageFileHandle,
  buffers: readonly Uint8Array[],
  position: number,
): Promise<void> {
  let at = position;
  for (let first = 0; first < buffers.length; first += MAX_IOVECS) {
    const group = buffers.slice(first, first + MAX_IOVECS);
    let size = 0;
    for (const buffer of group) size += buffer.byteLength;
    let written = (await handle.writev(group, at)).bytesWritten;
    // A short write (e.g. a full disk on the way to ENOSPC): finish it buffer by buffer.
    let skipped = 0;
    for (const buffer of group) {
      const end = skipped + buffer.byteLength;
      while (written < end) {
        const from = written - skipped;
        const { bytesWritten } = await handle.write(
          buffer,
          from,
          buffer.byteLength - from,
          at + written,
        );
        if (bytesWritten === 0) throw new Error(`write made no progress at offset ${at + written}`);
        written += bytesWritten;
      }
      skipped = end;
    }
    at += size;
  }
}

export async function fileSize(storage: JournalStorage, path: string): Promise<number | undefined> {
  try {
    return (await storage.stat(path)).size;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Reads the whole file (undefined when it does not exist). */
async function readWhole(storage: JournalStorage, path: string): Promise<Buffer | undefined> {
  try {
    return await storage.readFile(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function corrupt(path: string, damage: FragmentDamage): JournalCorruptError {
  return new JournalCorruptError(path, damage.position, damage.detail);
}

/**
 * Parses an index file's bytes from `index.parsedThrough` on (`handle`: the file opened for
 * reading; else it is opened here, and a missing file holds nothing). Whole records are read in
 * bounded windows that skip large INLINE data (scanRecords); from the first byte that is not a
 * whole record, the rest of the file is parsed by FragmentIndex.advance, which judges damage and
 * torn tails. A damaged record followed by a valid one is read a second time before it is
 * reported: a concurrent writer's record may have been caught half copied.
 */
export async function advanceIndex(
  storage: JournalStorage,
  path: string,
  index: FragmentIndex,
  handle?: StorageFileHandle,
): Promise<void> {
  const file = handle ?? (await openIfExists(storage, path));
  if (file === undefined) return;
  try {
    for (let attempt = 0; ; attempt += 1) {
      const size = (await file.stat()).size;
      index.tornBytes = 0;
      try {
        if (await scanRecords(file, index, size)) return;
        const from = index.parsedThrough;
        const result = index.advance(await readFully(file, from, size - from));
        if (result.kind === 'ok') return;
        if (attempt >= 1) throw corrupt(path, result.damage);
      } catch (error) {
        if (error instanceof FragmentDamage) throw corrupt(path, error);
        throw error;
      }
    }
  } finally {
    if (handle === undefined) await file.close().catch(() => undefined);
  }
}

/**
 * Applies the whole records of the file's first `size` bytes from `index.parsedThrough` on, read
 * through one reused buffer. Returns true when it got to the end (or to the record that closed
 * the fragment), false when it stopped before bytes that are not a whole record.
 */
async function scanRecords(
  handle: StorageFileHandle,
  index: FragmentIndex,
  size: number,
): Promise<boolean> {
  let window: Buffer | undefined;
  let want = PROBE_BYTES; // the START record, and the next header: their size tells what follows
  while (index.parsedThrough < size && !index.closed) {
    const from = index.parsedThrough;
    const length = Math.min(want, size - from);
    window ??= Buffer.allocUnsafe(INDEX_WINDOW);
    const read = await readInto(handle, from, window, 0, length);
    const last = index.applyWhole(window.subarray(0, read), size);
    if (index.parsedThrough === from) {
      // A probe too short for the record there: read the most a record header can take. Else
      // the bytes there are not a whole record.
      if (read === length && length === want && want < RECORD_MAX_BYTES) {
        want = RECORD_MAX_BYTES;
        continue;
      }
      return false;
    }
    want = last > SKIP_INLINE_FROM ? PROBE_BYTES : INDEX_WINDOW;
  }
  return true;
}

async function openIfExists(
  storage: JournalStorage,
  path: string,
): Promise<StorageFileHandle | undefined> {
  try {
    return await storage.open(path, 'r');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Checks the data of the fragment's unconfirmed last commit, if any (see FragmentIndex
 * .unconfirmed), and forgets that commit when the data does not match: after a crash that is an
 * unfinished write. `paths.data` holds journal offset `index.begin` at position 0; an INLINE
 * commit's data lies in `paths.index` after its record.
 */
export async function settleUnconfirmed(
  storage: JournalStorage,
  paths: { readonly data: string; readonly index: string },
  index: FragmentIndex,
  /**
   * A writer continuing the fragment's history: make the kept data durable first (its writer
   * may have died between the write and its sync; the page cache still holds it).
   */
  syncKept = false,
): Promise<void> {
  if (index.unconfirmed === undefined) return;
  const begin = index.commitBegins.at(-1) as number;
  const end = index.commitEnds.at(-1) as number;
  const expected = index.commitCrcs.at(-1) as number;
  const inlineAt = index.commitInline.at(-1) as number;
  // Where the commit's first byte lies in the file that holds it.
  const first = inlineAt >= 0 ? inlineAt : begin - index.begin;
  let handle: StorageFileHandle;
  try {
    handle = await storage.open(inlineAt >= 0 ? paths.index : paths.data, 'r');
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
    index.dropUnconfirmed();
    return;
  }
  try {
    let crc = 0;
    for (let at = 0; at < end - begin; at += IO_CHUNK) {
      const length = Math.min(IO_CHUNK, end - begin - at);
      const bytes = await readFully(handle, first + at, length);
      crc = crc32cUpdate(crc, bytes);
      if (bytes.byteLength < length) break;
    }
    if (crc !== expected) index.dropUnconfirmed();
    else if (syncKept) await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Loads and parses a whole v2 index file. */
export async function loadIndex(
  storage: JournalStorage,
  path: string,
  epoch: number,
): Promise<FragmentIndex> {
  const handle =
    (await fileSize(storage, path)) === undefined ? undefined : await openIfExists(storage, path);
  if (handle === undefined) throw new FragmentGoneError(path);
  try {
    const index = new FragmentIndex(epoch);
    await advanceIndex(storage, path, index, handle);
    return index;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** A fragment's file vanished while the chain named it: pruned meanwhile (look again). */
export class FragmentGoneError extends Error {
  constructor(readonly path: string) {
    super(`${path} was deleted (pruned) while it was being read`);
  }
}

export async function loadLegacyIndex(
  storage: JournalStorage,
  path: string,
): Promise<FragmentIndex> {
  const bytes = (await readWhole(storage, path)) ?? Buffer.alloc(0);
  try {
    return parseLegacyCommits(bytes);
  } catch (error) {
    if (error instanceof FragmentDamage) throw corrupt(path, error);
    throw error;
  }
}
