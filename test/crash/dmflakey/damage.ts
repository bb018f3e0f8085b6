/**
 * Where media corruption landed in a FileJournal (format v2: fragments `<epoch>.index` +
 * `<epoch>.data`, see src/journal/fragment-layout.ts), read from its files as the disk holds them
 * right after a cut. No I/O: give it the journal directory's files by name.
 *
 * The ground truth, from the format's rules (src/journal/fragment-writer.ts, fragment-index.ts):
 * - a COMMIT record is written only after its data was fdatasynced, so a whole COMMIT whose data
 *   does not match its CRC-32C is damage, never an unfinished commit;
 * - every record carries the CRC of the record before it, so an unreadable record followed by a
 *   valid record that does not confirm the record before the unreadable one was complete once:
 *   damage (a valid FENCE after it means an unfinished write, then another writer's take-over);
 * - a fragment's successor names, in its START, where the fragment ended: an index that ends
 *   before that (an unreadable tail) lost commits that were complete once: damage;
 * - only the newest fragment's unreadable tail is ambiguous: an unfinished write, or a damaged
 *   last commit that no later record confirmed. It is damage exactly when acknowledged appends
 *   lie behind it (the journal's documented gap: "a damaged last commit" reads as never written).
 * Fragments below the highest prune mark are being deleted: nothing reads them.
 *
 * That gives the corruption round what it judges a recovery by (test/crash/lib/invariants.ts
 * Damage): was anything damaged, was acknowledged data hit, and is all of it the one gap?
 */
import { crc32c } from '../../../src/crc32c.js';
import {
  dataFile,
  epochOfIndexFile,
  indexFile,
  pruneMarkBelow,
} from '../../../src/journal/fragment-layout.js';
import {
  COMMIT,
  FENCE,
  SEAL,
  START,
  decodeRecord,
  nextValidRecord,
} from '../../../src/journal/fragment-record.js';
import type { Damage } from '../lib/invariants.js';

export interface DamagedRange {
  /** Journal offsets the damage makes unreadable (or unprovable). */
  begin: number;
  end: number;
  /** The journal file the damaged bytes lie in. */
  file: string;
  where: 'data' | 'index';
  detail: string;
  /** The newest fragment's unconfirmed last commit (the documented gap). */
  last: boolean;
}

export interface ScannedFragment {
  epoch: number;
  /** As its index reads: pending (no START yet), void (fenced before it started), open, closed. */
  state: 'pending' | 'void' | 'open' | 'sealed' | 'fenced';
  /** Journal offsets of its committed bytes. */
  begin: number;
  end: number;
  /** The fragment its START continues (undefined: no readable START). */
  prevEpoch: number | undefined;
  /** Valid records read (up to and including the closing one). */
  records: number;
  /** Unreadable bytes after the last valid record. */
  tailBytes: number;
  /** Its START is unreadable, but commits follow. */
  startDamaged: boolean;
}

export interface JournalDamage {
  /** Every fragment with an index file, oldest epoch first. */
  fragments: ScannedFragment[];
  /** Valid records over all fragments. */
  records: number;
  /** End of the newest started fragment's commits: the head a reader finds. */
  committedHead: number;
  /** Unreadable bytes at the end of the newest started fragment's index. */
  topTailBytes: number;
  /** Its index file. */
  topIndex: string | undefined;
  /** Highest prune mark (0: none). */
  prunedBelow: number;
  damaged: DamagedRange[];
}

/** Parses one fragment's index (tolerating damage) and checks its commits against its data. */
function scanFragment(
  epoch: number,
  index: Uint8Array,
  data: Uint8Array | undefined,
): { fragment: ScannedFragment; damaged: DamagedRange[] } {
  const indexName = indexFile(epoch);
  const dataName = dataFile(epoch);
  const damaged: DamagedRange[] = [];
  const fragment: ScannedFragment = {
    epoch,
    state: 'pending',
    begin: 0,
    end: 0,
    prevEpoch: undefined,
    records: 0,
    tailBytes: 0,
    startDamaged: false,
  };
  let begun = false; // the fragment's begin is known (from START, or a commit after a bad START)
  let lastCrc = 0;
  let at = 0;
  const checkData = (begin: number, end: number, crc: number, payloadAt?: number): void => {
    if (payloadAt !== undefined) {
      // An INLINE commit (format v3): its data follows its record in the index file.
      if (crc32c(index.subarray(payloadAt, payloadAt + end - begin)) !== crc >>> 0) {
        damaged.push({
          begin,
          end,
          file: indexName,
          where: 'data',
          detail: `inline data [${begin}, ${end}) does not match its record's CRC (${indexName} at ${payloadAt})`,
          last: false,
        });
      }
      return;
    }
    const from = begin - fragment.begin;
    const bytes = data?.subarray(from, end - fragment.begin);
    if (bytes === undefined || bytes.byteLength < end - begin) {
      damaged.push({
        begin,
        end,
        file: dataName,
        where: 'data',
        detail: `committed data [${begin}, ${end}) lies beyond the ${data?.byteLength ?? 0} bytes of ${dataName}`,
        last: false,
      });
    } else if (crc32c(bytes) !== crc >>> 0) {
      damaged.push({
        begin,
        end,
        file: dataName,
        where: 'data',
        detail: `committed data [${begin}, ${end}) does not match its COMMIT's CRC (${dataName} at ${from})`,
        last: false,
      });
    }
  };
  const closed = (): boolean =>
    fragment.state === 'void' || fragment.state === 'sealed' || fragment.state === 'fenced';

  while (at < index.byteLength && !closed()) {
    const decoded = decodeRecord(index, at, 0);
    if (decoded.kind === 'record') {
      const r = decoded.record;
      fragment.records++;
      at += r.length;
      if (!begun) {
        if (r.kind === FENCE) {
          fragment.state = 'void';
          break;
        }
        if (r.kind === START) {
          begun = true;
          fragment.state = 'open';
          fragment.begin = r.begin;
          fragment.end = r.begin;
          fragment.prevEpoch = r.prevEpoch;
          lastCrc = r.crc;
          continue;
        }
        // A commit or seal without a readable START before it: the START was damaged.
        begun = true;
        fragment.startDamaged = true;
        fragment.state = 'open';
        fragment.begin = r.kind === COMMIT || r.kind === SEAL ? r.begin : 0;
        fragment.end = fragment.begin;
      }
      if (r.kind === COMMIT) {
        if (r.end > r.begin) checkData(r.begin, r.end, r.dataCrc, r.payloadAt);
        if (r.begin === fragment.end) fragment.end = Math.max(fragment.end, r.end);
      } else if (r.kind === SEAL) {
        fragment.state = 'sealed';
      } else if (r.kind === FENCE) {
        fragment.state = 'fenced';
      }
      lastCrc = r.crc;
      continue;
    }
    if (decoded.kind === 'incomplete' && decoded.end !== undefined) {
      // A whole INLINE header whose data is cut short: a torn tail (its data is not searched).
      fragment.tailBytes = index.byteLength - at;
      break;
    }
    // Unreadable: a torn tail, unless a valid record follows.
    const next = nextValidRecord(index, at + 1, 0);
    if (next === -1) {
      fragment.tailBytes = index.byteLength - at;
      break;
    }
    const following = decodeRecord(index, next, 0);
    if (following.kind !== 'record') throw new Error('unreachable: nextValidRecord found a record');
    const f = following.record;
    const neverVouched = begun && f.kind !== START && f.kind !== FENCE && f.prevCrc === lastCrc;
    if (f.kind === FENCE || neverVouched) {
      // An unfinished write (then another writer's FENCE), or bytes no record ever confirmed.
      at = next;
      continue;
    }
    if (!begun) {
      at = next; // the START itself: handled when the commit after it is read
      continue;
    }
    const until = f.kind === COMMIT ? f.begin : f.kind === SEAL ? f.end : fragment.end;
    damaged.push({
      begin: fragment.end,
      end: Math.max(fragment.end, until),
      file: indexName,
      where: 'index',
      detail:
        `the record at ${at} of ${indexName} is damaged ` +
        `(${decoded.kind === 'invalid' ? decoded.reason : 'cut short'}) but a valid record follows at ${next}`,
      last: false,
    });
    fragment.end = Math.max(fragment.end, until); // the records after it continue from there
    at = next;
  }
  if (fragment.startDamaged) {
    damaged.push({
      begin: fragment.begin,
      end: fragment.end,
      file: indexName,
      where: 'index',
      detail: `the START record of ${indexName} is damaged but commits follow it`,
      last: false,
    });
  }
  return { fragment, damaged };
}

/** Scans a journal directory's files (name to bytes), as found after a cut. */
export function scanJournalFiles(files: ReadonlyMap<string, Uint8Array>): JournalDamage {
  let prunedBelow = 0;
  const epochs: number[] = [];
  for (const name of files.keys()) {
    const mark = pruneMarkBelow(name);
    if (mark !== undefined) prunedBelow = Math.max(prunedBelow, mark);
    const epoch = epochOfIndexFile(name);
    if (epoch !== undefined) epochs.push(epoch);
  }
  epochs.sort((a, b) => a - b);
  const fragments: ScannedFragment[] = [];
  const damaged: DamagedRange[] = [];
  for (const epoch of epochs) {
    const scanned = scanFragment(epoch, files.get(indexFile(epoch))!, files.get(dataFile(epoch)));
    fragments.push(scanned.fragment);
    const pruned =
      prunedBelow > 0 &&
      scanned.fragment.end <= prunedBelow &&
      (scanned.fragment.state === 'sealed' || scanned.fragment.state === 'fenced');
    if (!pruned) damaged.push(...scanned.damaged);
  }
  const started = fragments.filter((f) => f.state !== 'pending' && f.state !== 'void');
  // A fragment whose index ends before where its successor says it ended lost commits.
  for (const successor of started) {
    if (successor.prevEpoch === undefined || successor.prevEpoch === 0) continue;
    const previous = started.find((f) => f.epoch === successor.prevEpoch);
    if (previous === undefined || previous.end >= successor.begin) continue;
    if (prunedBelow > 0 && successor.begin <= prunedBelow) continue;
    damaged.push({
      begin: previous.end,
      end: successor.begin,
      file: indexFile(previous.epoch),
      where: 'index',
      detail:
        `${indexFile(previous.epoch)} reads through offset ${previous.end}, but fragment ` +
        `${successor.epoch} continues it at ${successor.begin} (${previous.tailBytes} unreadable bytes at its end)`,
      last: false,
    });
  }
  const top = started.at(-1);
  return {
    fragments,
    records: fragments.reduce((n, f) => n + f.records, 0),
    committedHead: top?.end ?? prunedBelow,
    topTailBytes: top?.tailBytes ?? 0,
    topIndex: top === undefined ? undefined : indexFile(top.epoch),
    prunedBelow,
    damaged,
  };
}

/**
 * Everything damaged, given the write head of the last acknowledged append: the scan's findings,
 * plus, when the newest fragment's index ends in unreadable bytes where acknowledged commits
 * should be, that unconfirmed last commit (the documented gap).
 */
export function damagedRanges(damage: JournalDamage, ackedHead: number): DamagedRange[] {
  const all = [...damage.damaged];
  if (damage.committedHead < ackedHead && damage.topTailBytes > 0) {
    all.push({
      begin: damage.committedHead,
      end: ackedHead,
      file: damage.topIndex ?? '?',
      where: 'index',
      detail:
        `acknowledged commits after offset ${damage.committedHead} are unreadable ` +
        `(${damage.topTailBytes} undecodable bytes end ${damage.topIndex})`,
      last: true,
    });
  }
  return all;
}

/**
 * The Damage to judge a recovery by. No damage found is plain crash damage (recovery must
 * succeed with every acknowledged op).
 */
export function damageVerdict(damage: JournalDamage, ackedHead: number): Damage {
  const all = damagedRanges(damage, ackedHead);
  if (all.length === 0) return { kind: 'crash' };
  return {
    kind: 'media',
    acknowledged: all.some((d) => d.begin < ackedHead),
    lastCommit: all.every((d) => d.last),
  };
}

/**
 * When all the damage is the unconfirmed last commit (the gap), the journal offset from which
 * acknowledged appends may be read as never written; undefined otherwise.
 */
export function gapFrom(damage: JournalDamage, ackedHead: number): number | undefined {
  const all = damagedRanges(damage, ackedHead);
  return all.length > 0 && all.every((d) => d.last) ? damage.committedHead : undefined;
}

export function describeDamage(damage: JournalDamage, ackedHead: number): string {
  const all = damagedRanges(damage, ackedHead);
  const head = `${damage.fragments.length} fragments, ${damage.records} records`;
  if (all.length === 0) return `${head}, no damage`;
  const shown = all
    .slice(0, 3)
    .map(
      (d) =>
        `${d.detail}${d.begin < ackedHead ? ' (acknowledged)' : ''}${d.last ? ' (unconfirmed last commit)' : ''}`,
    );
  const more = all.length > 3 ? `; ${all.length - 3} more` : '';
  return `${head}, ${all.length} damaged: ${shown.join('; ')}${more}`;
}
