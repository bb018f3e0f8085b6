/**
 * A version 1 journal (recoverylog 0.1: one `data` file holding the journal from offset 0 and
 * one `commits` file of legacy records, legacy-record.ts) read as the first fragment of the
 * chain, epoch 0. Nothing here writes: a v2 writer leaves both files as they are and starts
 * epoch 1 at the legacy head (fragment-writer.ts), so the upgrade destroys no byte.
 *
 * Parsing follows v1's rules, plus the damage check v2 makes everywhere: an unreadable record
 * followed by a valid record that continues the commits is corruption, not a torn tail.
 */
import { FragmentDamage, FragmentIndex } from './fragment-index.js';
import { RECORD_MAGIC, decodeCommitRecord, type CommitRecord } from './legacy-record.js';

export const LEGACY_EPOCH = 0;

function nextLegacyRecord(bytes: Uint8Array, from: number, head: number): CommitRecord | undefined {
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(RECORD_MAGIC, 0);
  const haystack = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = haystack.indexOf(magic, from); at !== -1; at = haystack.indexOf(magic, at + 1)) {
    const decoded = decodeCommitRecord(bytes, at, 0);
    if (decoded.kind === 'record' && decoded.record.begin === head) return decoded.record;
  }
  return undefined;
}

/** The legacy fragment described by a v1 commits file (the whole file's bytes). */
export function parseLegacyCommits(commits: Uint8Array): FragmentIndex {
  const index = new FragmentIndex(LEGACY_EPOCH);
  index.state = 'open';
  let at = 0;
  while (at < commits.byteLength) {
    const decoded = decodeCommitRecord(commits, at, 0);
    if (decoded.kind !== 'record') {
      const next = nextLegacyRecord(commits, at + 1, index.end);
      if (next !== undefined) {
        throw new FragmentDamage(
          at,
          `the legacy commit record at ${at} is damaged, but a valid record continuing the ` +
            `commits follows at ${next.position}`,
        );
      }
      index.tornBytes = commits.byteLength - at;
      break;
    }
    const record = decoded.record;
    if (record.begin !== index.end) {
      throw new FragmentDamage(
        record.position,
        `legacy commit [${record.begin}, ${record.end}) does not follow the previous commit, ` +
          `which ended at ${index.end}`,
      );
    }
    if (record.end > record.begin) index.addCommit(record.begin, record.end, record.dataCrc);
    if (record.registers !== undefined) index.registers = record.registers;
    index.records += 1;
    at = record.position + record.length;
    index.parsedThrough = at;
  }
  return index;
}
