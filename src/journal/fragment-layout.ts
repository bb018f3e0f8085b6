/**
 * The file journal's directory layout, the one owner of its file names (format version 3):
 *
 *   DIR/journal.json          format tag, version and name (journal-meta.ts)
 *   DIR/<epoch>.index         a fragment's records (fragment-record.ts), each INLINE commit's
 *                             bytes right after its record; created exclusively: creating it is
 *                             how a writer claims the epoch
 *   DIR/<epoch>.data          the bytes of the fragment's larger (non-INLINE) commits: file
 *                             position p holds journal offset begin+p (holes where INLINE
 *                             commits' bytes would be; version 2 fragments have none)
 *   DIR/pruned-<offset>       prune marks (empty files): fragments ending at or below the highest
 *                             mark were deleted by prune, or are being deleted (ignored if present)
 *   DIR/lock, lock.*, lock-want   the advisory append lock (file-lock.ts)
 *
 * Version 1 journals (recoverylog 0.1) held one `data` file and one `commits` file; they are read
 * as a legacy first fragment (legacy-fragment.ts) and upgraded by the first writer.
 */
export const LEGACY_DATA_FILE = 'data';
export const LEGACY_COMMITS_FILE = 'commits';

const EPOCH_DIGITS = 10;
const NAME = /^(\d{10})\.(index|data)$/;

export function indexFile(epoch: number): string {
  return `${String(epoch).padStart(EPOCH_DIGITS, '0')}.index`;
}

export function dataFile(epoch: number): string {
  return `${String(epoch).padStart(EPOCH_DIGITS, '0')}.data`;
}

/** The epoch an index file name stands for, or undefined for other entries. */
export function epochOfIndexFile(entry: string): number | undefined {
  const match = NAME.exec(entry);
  if (match === null || match[2] !== 'index') return undefined;
  const epoch = Number(match[1]);
  return epoch >= 1 ? epoch : undefined;
}

/** The epoch of any fragment file (index or data), or undefined. */
export function epochOfFragmentFile(entry: string): number | undefined {
  const match = NAME.exec(entry);
  if (match === null) return undefined;
  const epoch = Number(match[1]);
  return epoch >= 1 ? epoch : undefined;
}

const PRUNE_MARK = /^pruned-(\d{16})$/;

/**
 * The name of a prune mark: an empty file whose name says "fragments ending at or below this
 * offset may be deleted". Marks are created, never rewritten, so two prunes racing can only raise
 * the mark (readers take the highest); older marks are removed once a higher one is durable.
 */
export function pruneMark(below: number): string {
  return `pruned-${String(below).padStart(16, '0')}`;
}

export function isPruneMark(entry: string): boolean {
  return PRUNE_MARK.test(entry);
}

/** The offset a prune mark stands for, or undefined for other entries. */
export function pruneMarkBelow(entry: string): number | undefined {
  const match = PRUNE_MARK.exec(entry);
  if (match === null) return undefined;
  const below = Number(match[1]);
  return Number.isSafeInteger(below) ? below : undefined;
}
