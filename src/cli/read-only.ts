/**
 * How the read-only verbs (`inspect --log`, `export`, `hints`, `fragments`, `prune --dry-run`,
 * `play` without `--handoff`) open file journals: with `readOnly`, so opening, reading and
 * closing take no lock and write nothing (a journal on read-only storage works), and any append
 * is refused with JournalReadOnlyError instead of silently starting a writer epoch (barriers,
 * which write nothing, are answered at the head: that is how a Player learns where to stop).
 */
import { FileJournal } from '../journal/file.js';

/** Opens the file journal in `dir` read-only (see the module comment). */
export function openReadOnly(dir: string): Promise<FileJournal> {
  return FileJournal.open(dir, { readOnly: true });
}
