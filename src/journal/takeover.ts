/**
 * Starting a writer epoch: how a writer gets a fragment of its own, whoever else believes they
 * are writing. The steps, each safe against any other writer doing the same at any moment:
 *
 *   1. Claim epoch N = (highest epoch in the directory) + 1 by creating `<N>.index` exclusively.
 *      Exactly one writer can create it; a loser claims again above the winner.
 *   2. Fence every unfinished epoch below N, newest first, until a started one is found: append
 *      a FENCE record to its index (O_APPEND, so it lands after every record already written),
 *      fdatasync, and read the index again. Records after the first FENCE or SEAL are never read,
 *      so from now on nothing its owner writes can commit, and what it committed before the FENCE
 *      is final. The FENCE names (prevCrc) the last whole record it found. When the index ends in
 *      a torn INLINE commit (whole header, data cut short), zero filler completes that commit's
 *      data first, so the FENCE lies after it where readers look (fragment-index.ts), and the
 *      commit reads as unfinished: its data does not match its CRC (the filler makes sure). A claim that has not started yet is fenced too: its START will land after the
 *      FENCE and void it.
 *   3. START N: continue the newest started fragment at its committed end, with its registers and
 *      checksum, then read the START back at position 0. Finding another writer's FENCE there
 *      instead means a newer writer fenced N before it started: claim again.
 *
 * The directory is fsynced before the START is synced, so the new files outlive a power cut
 * before the first commit is acknowledged.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { JournalContendedError, JournalCorruptError, errorCode } from './errors.js';
import { FragmentIndex } from './fragment-index.js';
import { dataFile, indexFile } from './fragment-layout.js';
import {
  advanceIndex,
  loadLegacyIndex,
  readFully,
  settleUnconfirmed,
  writeFully,
} from './fragment-io.js';
import { crc32c } from '../crc32c.js';
import { FENCE, START, decodeRecord, encodeRecord } from './fragment-record.js';
import { OwnedFragment } from './fragment-writer.js';
import { listDirectory } from './fragment-chain.js';
import { LEGACY_COMMITS_FILE, LEGACY_DATA_FILE } from './fragment-layout.js';
import { LEGACY_EPOCH } from './legacy-fragment.js';
import type { JournalStorage, StorageFileHandle } from './storage.js';

/** Claims lost to other writers before giving up (each loss means another writer progressed). */
const MAX_CLAIMS = 64;
/** FENCE appends before concluding that the file does not behave like an append-only file. */
const MAX_FENCE_ATTEMPTS = 8;

export async function fsyncDirectory(storage: JournalStorage, dir: string): Promise<void> {
  const handle = await storage.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(storage: JournalStorage, path: string): Promise<boolean> {
  try {
    await storage.stat(path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

async function loadIndex(
  storage: JournalStorage,
  dir: string,
  epoch: number,
): Promise<FragmentIndex | undefined> {
  const path = join(dir, indexFile(epoch));
  if (!(await exists(storage, path))) return undefined;
  const index = new FragmentIndex(epoch);
  await advanceIndex(storage, path, index);
  return index;
}

/**
 * What to write before `record` when it is appended after `tail`, the unreadable bytes after an
 * index's last whole record (a record a crash tore): nothing, unless our bytes would complete a
 * record begun in `tail` (a torn commit one byte short reads whole when that byte happens to be
 * the first of our record's magic). Then a byte that does not: a record nobody finished must
 * stay unfinished, or the takeover would continue after a commit every reader before it dropped.
 */
function separatorAfter(
  tail: Uint8Array,
  record: Uint8Array,
  /** Records start at or after this position of `tail` (before it: a filled INLINE commit). */
  from: number,
): Uint8Array | undefined {
  const candidates = [new Uint8Array(0)];
  for (let value = 0; value < 256; value += 1) candidates.push(Uint8Array.of(value));
  for (const separator of candidates) {
    const bytes = Buffer.concat([tail, separator, record]);
    const ours = tail.byteLength + separator.byteLength;
    let completes = false;
    for (let at = from; at < ours && !completes; at += 1) {
      const decoded = decodeRecord(bytes, at, 0);
      completes =
        (decoded.kind === 'record' && at + decoded.record.length > tail.byteLength) ||
        (decoded.kind === 'incomplete' && decoded.end !== undefined); // a whole INLINE header
    }
    if (!completes) return separator;
  }
  // Each candidate byte changes a record our bytes would complete: at most one completes it.
  return undefined;
}

/**
 * Zero bytes that complete the data of the torn INLINE commit `tail` begins with (none when it
 * does not begin with a whole INLINE header), never making that data match its CRC.
 */
function fillerAfter(tail: Uint8Array): Uint8Array {
  const decoded = decodeRecord(tail, 0, 0);
  if (decoded.kind !== 'incomplete' || decoded.end === undefined) return new Uint8Array(0);
  const filler = new Uint8Array(decoded.end - tail.byteLength);
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const headerLength = view.getUint32(4, true);
  const dataCrc = view.getUint32(32, true);
  const data = Buffer.concat([tail.subarray(headerLength), filler]);
  // The missing bytes might have been zeros: then the commit would read as finished.
  if (crc32c(data) === dataCrc) filler[filler.byteLength - 1] = 1;
  return filler;
}

/**
 * Appends a FENCE for `fencer` to `epoch`'s index until the index reads as closed. `parsed` is
 * where the index's whole records end (bytes after it are torn); `lastCrc` is the CRC of the
 * record that ends there (0: none).
 */
async function fence(
  storage: JournalStorage,
  dir: string,
  epoch: number,
  fencer: { epoch: number; token: string },
  parsed: number,
  lastCrc: number,
): Promise<FragmentIndex> {
  const path = join(dir, indexFile(epoch));
  for (let attempt = 0; attempt < MAX_FENCE_ATTEMPTS; attempt += 1) {
    const encoded = encodeRecord(
      { kind: FENCE, epoch: fencer.epoch, token: fencer.token },
      lastCrc,
    );
    const handle = await storage.open(path, 'a+');
    try {
      const size = (await handle.stat()).size;
      const torn = size > parsed ? await readFully(handle, parsed, size - parsed) : Buffer.alloc(0);
      const filler = fillerAfter(torn);
      const tail = Buffer.concat([torn, filler]);
      const separator = separatorAfter(tail, encoded, filler.byteLength > 0 ? tail.byteLength : 0);
      if (separator === undefined) {
        throw new JournalCorruptError(
          path,
          parsed,
          `the ${tail.byteLength} bytes after the last whole record read as a record whatever ` +
            'is appended after them: the index is damaged, not torn by a crash',
        );
      }
      // O_APPEND: lands at the end whatever `size` is (a record a live owner appends meanwhile
      // is whole, and before our FENCE).
      await writeFully(handle, [Buffer.concat([filler, separator, encoded])], size);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    const index = await loadIndex(storage, dir, epoch);
    if (index === undefined) {
      throw new JournalCorruptError(path, 0, 'the fragment vanished while it was being fenced');
    }
    // On a file system without atomic appends (NFS), a concurrent record can clobber the FENCE:
    // then the index still reads as open, and we fence again.
    if (index.closed) return index;
    parsed = index.parsedThrough;
    lastCrc = index.lastCrc;
  }
  throw new JournalCorruptError(
    path,
    0,
    `a FENCE appended ${MAX_FENCE_ATTEMPTS} times never closed the fragment: the file system ` +
      'does not keep appends whole (use local storage for the journal directory)',
  );
}

/** The newest started fragment below `claimed`, fencing every unfinished epoch on the way. */
async function fencePredecessors(
  storage: JournalStorage,
  dir: string,
  claimed: number,
  token: string,
  legacy: boolean,
): Promise<FragmentIndex | undefined> {
  for (let epoch = claimed - 1; epoch > LEGACY_EPOCH; epoch -= 1) {
    let index = await loadIndex(storage, dir, epoch);
    if (index === undefined) continue; // pruned long ago, or a claim that crashed before its file
    if (!index.closed) {
      const fencer = { epoch: claimed, token };
      index = await fence(storage, dir, epoch, fencer, index.parsedThrough, index.lastCrc);
    }
    if (index.started) {
      // Fenced: what it committed is final. Its last commit may be unfinished (data lost).
      const paths = { data: join(dir, dataFile(epoch)), index: join(dir, indexFile(epoch)) };
      await settleUnconfirmed(storage, paths, index, true);
      return index;
    }
  }
  if (!legacy) return undefined;
  return loadLegacyIndex(storage, join(dir, LEGACY_COMMITS_FILE));
}

async function openExclusive(
  storage: JournalStorage,
  path: string,
  flags: 'ax+' | 'wx',
): Promise<StorageFileHandle | undefined> {
  try {
    return await storage.open(path, flags);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return undefined;
    throw error;
  }
}

/**
 * Starts a new writer epoch (see the file header) and returns its fragment, which continues the
 * journal's committed state: `index.end` is the head, `index.registers` the registers.
 */
export async function startEpoch(
  storage: JournalStorage,
  dir: string,
  token: string,
): Promise<OwnedFragment> {
  for (let claim = 0; claim < MAX_CLAIMS; claim += 1) {
    // Two writers claiming in turn can void each other's claims forever: back off at random.
    if (claim > 0) await sleep(Math.random() * 2 ** Math.min(claim, 6));
    const listing = await listDirectory(storage, dir);
    const epoch = (listing.epochs.at(-1) ?? LEGACY_EPOCH) + 1;
    const indexHandle = await openExclusive(storage, join(dir, indexFile(epoch)), 'ax+');
    if (indexHandle === undefined) continue; // another writer claimed it first
    let dataHandle: StorageFileHandle | undefined;
    try {
      const legacy =
        listing.legacy &&
        listing.entries.includes(LEGACY_DATA_FILE) &&
        listing.entries.includes(LEGACY_COMMITS_FILE);
      const previous = await fencePredecessors(storage, dir, epoch, token, legacy);
      dataHandle = await openExclusive(storage, join(dir, dataFile(epoch)), 'wx');
      if (dataHandle === undefined) {
        throw new JournalCorruptError(
          join(dir, dataFile(epoch)),
          0,
          `a data file exists for epoch ${epoch}, which this writer has just claimed`,
        );
      }
      const start = encodeRecord(
        {
          kind: START,
          epoch,
          token,
          begin: previous?.end ?? 0,
          prevEpoch: previous?.epoch ?? 0,
          prevDataCrc: previous?.dataCrc ?? 0,
          registers: previous?.registers ?? {},
          inline: true,
        },
        0,
      );
      await writeFully(indexHandle, [start], 0);
      const [back] = await Promise.all([
        readFully(indexHandle, 0, start.byteLength),
        fsyncDirectory(storage, dir),
      ]);
      if (!back.equals(start)) {
        // A newer writer's FENCE came first: this epoch is void. Claim again above it.
        await Promise.all([indexHandle.close(), dataHandle.close()]);
        continue;
      }
      await indexHandle.datasync();
      const decoded = decodeRecord(start, 0, 0);
      if (decoded.kind !== 'record') throw new Error('unreachable: a fresh START decodes');
      const index = new FragmentIndex(epoch);
      index.apply(decoded.record);
      index.parsedThrough = start.byteLength;
      return new OwnedFragment(epoch, index, dataHandle, indexHandle, start.byteLength);
    } catch (error) {
      await indexHandle.close().catch(() => undefined);
      await dataHandle?.close().catch(() => undefined);
      throw error;
    }
  }
  // Other writers keep taking the journal: contention (nothing was written), not damage.
  throw new JournalContendedError(dir, MAX_CLAIMS);
}
