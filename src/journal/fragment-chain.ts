/**
 * The chain of fragments a file journal consists of, discovered from its directory without
 * writing anything (readers need no lock and work on read-only storage).
 *
 * Every started fragment's START names the fragment it continues (`prevEpoch`), the offset where
 * that one ended (its own `begin`) and that one's checksum. The journal is the chain that ends in
 * the highest STARTED epoch: epochs above it are claims whose writer has not started yet (or was
 * fenced before it did), and they hold nothing. Fragments below a prune mark may be gone (or
 * half deleted): the chain stops at the first fragment that begins at or below it.
 */
import { join } from 'node:path';
import { JournalCorruptError, errorCode } from './errors.js';
import { FragmentIndex } from './fragment-index.js';
import {
  LEGACY_COMMITS_FILE,
  dataFile,
  epochOfIndexFile,
  indexFile,
  isPruneMark,
  pruneMarkBelow,
} from './fragment-layout.js';
import { advanceIndex, settleUnconfirmed } from './fragment-io.js';
import { Fragment } from './fragment.js';
import { START, decodeRecord, RECORD_MAX_BYTES, type StartRecord } from './fragment-record.js';
import { LEGACY_EPOCH } from './legacy-fragment.js';
import type { JournalStorage } from './storage.js';

/** What the directory holds, as far as the chain is concerned. */
export interface DirectoryListing {
  /** Epochs of the `<epoch>.index` files, ascending. */
  readonly epochs: readonly number[];
  /** A version 1 journal's `data` + `commits` files are present (epoch 0). */
  readonly legacy: boolean;
  /** Fragments ending at or below this offset may have been deleted by prune (-1: no prune). */
  readonly prunedBelow: number;
  readonly entries: readonly string[];
}

export async function listDirectory(
  storage: JournalStorage,
  dir: string,
): Promise<DirectoryListing> {
  const entries = await storage.readdir(dir);
  const epochs: number[] = [];
  let legacy = false;
  let prunedBelow = -1;
  for (const entry of entries) {
    const epoch = epochOfIndexFile(entry);
    if (epoch !== undefined) epochs.push(epoch);
    else if (entry === LEGACY_COMMITS_FILE) legacy = true;
    else if (isPruneMark(entry)) prunedBelow = Math.max(prunedBelow, pruneMarkBelow(entry) ?? -1);
  }
  epochs.sort((a, b) => a - b);
  return { epochs, legacy, prunedBelow, entries };
}

/** The fragments of the journal, oldest first, contiguous, the last one fully indexed. */
export interface Chain {
  readonly fragments: readonly Fragment[];
  /** The first offset still held (0 unless pruned). */
  readonly low: number;
  readonly prunedBelow: number;
  /** The highest epoch claimed in the directory (the next writer claims one above it). */
  readonly topClaimed: number;
}

/** Reads just the first record of an index file (a predecessor needs only its START). */
async function readStart(
  storage: JournalStorage,
  dir: string,
  epoch: number,
): Promise<StartRecord | undefined> {
  let handle;
  try {
    handle = await storage.open(join(dir, indexFile(epoch)), 'r');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const buffer = Buffer.alloc(RECORD_MAX_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, 0);
    const decoded = decodeRecord(buffer.subarray(0, bytesRead), 0, 0);
    if (decoded.kind === 'record' && decoded.record.kind === START) {
      if (decoded.record.epoch === epoch) return decoded.record;
    }
    throw new JournalCorruptError(
      join(dir, indexFile(epoch)),
      0,
      'a later fragment continues this one, but its first record is not its START',
    );
  } finally {
    await handle.close();
  }
}

/** Loads the whole index of `epoch` (undefined when the file does not exist). */
async function loadIndexIfPresent(
  storage: JournalStorage,
  dir: string,
  epoch: number,
): Promise<FragmentIndex | undefined> {
  const path = join(dir, indexFile(epoch));
  const index = new FragmentIndex(epoch);
  try {
    await storage.stat(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  await advanceIndex(storage, path, index);
  return index;
}

/**
 * Discovers the chain. `known` holds fragments found earlier (a follower's previous chain):
 * closed ones are immutable and reused as they are.
 */
export async function discoverChain(
  storage: JournalStorage,
  dir: string,
  known: ReadonlyMap<number, Fragment> = new Map(),
): Promise<Chain> {
  // A prune makes its mark durable before deleting anything: a fragment found missing after the
  // listing was taken may be one a concurrent prune just deleted. Look again before judging.
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await discoverOnce(storage, dir, known);
    } catch (error) {
      if (!(error instanceof FragmentMissing) || attempt >= 2) {
        throw error instanceof FragmentMissing ? error.corrupt : error;
      }
    }
  }
}

/** A predecessor the chain names is not in the directory (see discoverChain). */
class FragmentMissing extends Error {
  constructor(readonly corrupt: JournalCorruptError) {
    super(corrupt.message);
  }
}

async function discoverOnce(
  storage: JournalStorage,
  dir: string,
  known: ReadonlyMap<number, Fragment>,
): Promise<Chain> {
  const listing = await listDirectory(storage, dir);
  const topClaimed = listing.epochs.at(-1) ?? LEGACY_EPOCH;
  // The top: the highest epoch whose index holds a START.
  let top: Fragment | undefined;
  for (let i = listing.epochs.length - 1; i >= 0 && top === undefined; i -= 1) {
    const epoch = listing.epochs[i] as number;
    const reused = known.get(epoch);
    if (reused?.index?.closed === true && reused.index.started) {
      top = reused;
      break;
    }
    const index = await loadIndexIfPresent(storage, dir, epoch);
    if (index?.started === true) {
      await settleUnconfirmed(
        storage,
        { data: join(dir, dataFile(epoch)), index: join(dir, indexFile(epoch)) },
        index,
      );
      top = new Fragment(storage, dir, epoch, index);
    }
  }
  if (top === undefined && listing.legacy) {
    top = known.get(LEGACY_EPOCH) ?? new Fragment(storage, dir, LEGACY_EPOCH, undefined, undefined);
    await top.loaded();
  }
  if (top === undefined) {
    return {
      fragments: [],
      low: Math.max(listing.prunedBelow, 0),
      prunedBelow: listing.prunedBelow,
      topClaimed,
    };
  }
  const fragments: Fragment[] = [top];
  let current = top;
  for (;;) {
    const start = current.start;
    if (start === undefined) break; // the legacy fragment begins the journal
    if (start.begin <= listing.prunedBelow) break; // its predecessors were pruned
    if (start.prevEpoch === 0 && !(listing.legacy && start.begin > 0)) {
      if (start.begin !== 0) {
        throw new JournalCorruptError(
          join(dir, indexFile(current.epoch)),
          0,
          `the fragment begins at ${start.begin} but continues no earlier fragment`,
        );
      }
      break;
    }
    const epoch = start.prevEpoch;
    const expected = { end: start.begin, dataCrc: start.prevDataCrc };
    let previous = known.get(epoch);
    if (previous?.index?.closed !== true) {
      if (epoch === LEGACY_EPOCH) {
        previous = new Fragment(storage, dir, epoch, undefined, { begin: 0, ...expected });
      } else {
        const found = await readStart(storage, dir, epoch);
        if (found === undefined) {
          throw new FragmentMissing(
            new JournalCorruptError(
              join(dir, indexFile(epoch)),
              0,
              `fragment ${epoch} is missing, but fragment ${current.epoch} continues it at offset ` +
                `${start.begin} and nothing was pruned above ${listing.prunedBelow}`,
            ),
          );
        }
        previous = new Fragment(
          storage,
          dir,
          epoch,
          undefined,
          { begin: found.begin, ...expected },
          found,
        );
      }
    }
    if (previous.begin > expected.end) {
      throw new JournalCorruptError(
        join(dir, indexFile(epoch)),
        0,
        `fragment ${epoch} begins at ${previous.begin}, after offset ${expected.end} where ` +
          `fragment ${current.epoch} says it ends`,
      );
    }
    fragments.push(previous);
    current = previous;
  }
  fragments.reverse();
  const first = fragments[0] as Fragment;
  return {
    fragments,
    low: Math.max(first.begin, 0),
    prunedBelow: listing.prunedBelow,
    topClaimed,
  };
}
