/**
 * Where media corruption landed in a FileJournal, read from its files as they are on the disk
 * after a cut (before anything opens, and so repairs, the journal). No I/O: give it the bytes.
 *
 * Each commit record names a data range and its CRC-32C, and the journal syncs a batch's data
 * before it writes the record (src/journal/file.ts), so a complete record always describes
 * durable data: any mismatch is damage, never an unfinished commit. A record that no longer
 * decodes but is followed by valid ones was damaged in place; an undecodable tail is what a cut
 * leaves, unless acknowledged data lay behind it. That gives the ground truth the corruption
 * round needs to judge a recovery (test/crash/lib/invariants.ts Damage): was acknowledged data
 * hit, and was the damage confined to the journal's last commit?
 */
import {
  RECORD_MAGIC,
  crc32c,
  decodeCommitRecord,
  type CommitRecord,
} from '../../../src/journal/commit-record.js';
import type { Damage } from '../lib/invariants.js';

export interface DamagedRange {
  /** Journal (data file) offsets of the damaged batch. */
  begin: number;
  end: number;
  where: 'data' | 'commits';
  detail: string;
  /** It is the journal's last commit. */
  last: boolean;
}

export interface JournalDamage {
  /** Valid commit records found. */
  records: number;
  /** End of the last valid record's data. */
  committedHead: number;
  /** Bytes of the commits file after the last valid record (a torn or damaged tail). */
  tailBytes: number;
  damaged: DamagedRange[];
}

export function scanJournalFiles(data: Uint8Array, commits: Uint8Array): JournalDamage {
  const records: CommitRecord[] = [];
  const damaged: DamagedRange[] = [];
  let at = 0;
  let head = 0;
  while (at < commits.length) {
    const decoded = decodeCommitRecord(commits, at, 0);
    if (decoded.kind === 'record') {
      records.push(decoded.record);
      head = decoded.record.end;
      at += decoded.record.length;
      continue;
    }
    // Undecodable: a torn tail, unless a valid record follows (then this one was damaged).
    const next = nextValidRecord(commits, at + 1, head);
    if (next === undefined) break;
    damaged.push({
      begin: head,
      end: next.begin,
      where: 'commits',
      detail: `the commit record at ${at} of the commits file is damaged (${decoded.kind === 'invalid' ? decoded.reason : 'cut short'})`,
      last: false,
    });
    at = next.position;
  }
  for (const [n, record] of records.entries()) {
    const last = n === records.length - 1;
    if (data.length < record.end) {
      damaged.push({
        begin: record.begin,
        end: record.end,
        where: 'data',
        detail: `data [${record.begin}, ${record.end}) is beyond the data file's ${data.length} bytes`,
        last,
      });
      continue;
    }
    if (crc32c(data.subarray(record.begin, record.end)) !== record.dataCrc) {
      damaged.push({
        begin: record.begin,
        end: record.end,
        where: 'data',
        detail: `data [${record.begin}, ${record.end}) does not match its commit record's CRC`,
        last,
      });
    }
  }
  const lastEnd =
    records.length === 0
      ? 0
      : records[records.length - 1]!.position + records[records.length - 1]!.length;
  return {
    records: records.length,
    committedHead: head,
    tailBytes: commits.length - lastEnd,
    damaged,
  };
}

/**
 * The Damage to judge a recovery by, given the write head of the last acknowledged append. No
 * damage found is plain crash damage (recovery must succeed with every acknowledged op). An
 * unreadable tail of the commits file where acknowledged commits should be is damage of the
 * last commit(s): a reopen cannot tell it from a torn record, the Layer-1 checker's documented
 * gap.
 */
export function damageVerdict(damage: JournalDamage, ackedHead: number): Damage {
  const all = [...damage.damaged];
  if (damage.committedHead < ackedHead && damage.tailBytes > 0) {
    all.push({
      begin: damage.committedHead,
      end: ackedHead,
      where: 'commits',
      detail: `acknowledged commits after data offset ${damage.committedHead} are unreadable`,
      last: true,
    });
  }
  if (all.length === 0) return { kind: 'crash' };
  return {
    kind: 'media',
    acknowledged: all.some((d) => d.begin < ackedHead),
    lastCommit: all.every((d) => d.last),
  };
}

export function describeDamage(damage: JournalDamage, ackedHead: number): string {
  if (damage.damaged.length === 0) return `${damage.records} commits, no damage`;
  const shown = damage.damaged
    .slice(0, 3)
    .map(
      (d) =>
        `${d.detail}${d.begin < ackedHead ? ' (acknowledged)' : ''}${d.last ? ' (last commit)' : ''}`,
    );
  const more = damage.damaged.length > 3 ? `; ${damage.damaged.length - 3} more` : '';
  return `${damage.records} commits, ${damage.damaged.length} damaged: ${shown.join('; ')}${more}`;
}

/** The first valid record at or after `from` that continues a journal whose head is `head` or later. */
function nextValidRecord(
  commits: Uint8Array,
  from: number,
  head: number,
): CommitRecord | undefined {
  const magic = new Uint8Array(4);
  new DataView(magic.buffer).setUint32(0, RECORD_MAGIC, true);
  for (let at = indexOf(commits, magic, from); at !== -1; at = indexOf(commits, magic, at + 1)) {
    const decoded = decodeCommitRecord(commits, at, 0);
    if (decoded.kind === 'record' && decoded.record.begin >= head) return decoded.record;
  }
  return undefined;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(
    Buffer.from(needle),
    from,
  );
}
