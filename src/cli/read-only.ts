/**
 * How the read-only verbs (`inspect --log`, `export`, `hints`, `fragments`, `prune --dry-run`,
 * `play` without `--handoff`) open file journals: with `readOnly`, so opening, reading and
 * closing take no lock and write nothing (a journal on read-only storage works), and any append
 * is refused with JournalReadOnlyError instead of silently starting a writer epoch.
 */
import { FileJournal } from '../journal/file.js';
import { JournalAppendAbortedError } from '../journal/errors.js';
import type { AppendOptions, AppendResult, Journal } from '../journal/journal.js';

/** Opens the file journal in `dir` read-only (see the module comment). */
export function openReadOnly(dir: string): Promise<FileJournal> {
  return FileJournal.open(dir, { readOnly: true });
}

function isEmpty(data: Uint8Array | readonly Uint8Array[]): boolean {
  return data instanceof Uint8Array
    ? data.byteLength === 0
    : data.every((chunk) => chunk.byteLength === 0);
}

/**
 * `journal`, with barriers (zero-byte appends without register options) answered by `head()`
 * instead of by the journal. A Player learns the write heads it reads up to through barriers;
 * a journal opened read-only refuses every append, and a writable FileJournal would start a
 * writer epoch (new fragment files) even for a barrier. For a reader that appends nothing, the
 * head after a refresh is what the barrier would report. Other appends reach the journal
 * unchanged (so a read-only one still refuses them).
 */
export function withReadOnlyBarriers(journal: Journal): Journal {
  return {
    name: journal.name,
    async append(
      data: Uint8Array | readonly Uint8Array[],
      options?: AppendOptions,
    ): Promise<AppendResult> {
      if (
        !isEmpty(data) ||
        options?.checkRegisters !== undefined ||
        options?.unionRegisters !== undefined
      ) {
        return journal.append(data, options);
      }
      const signal = options?.signal;
      if (signal?.aborted === true) {
        throw new JournalAppendAbortedError(journal.name, signal.reason, false);
      }
      const head = await journal.head();
      return { begin: head, end: head };
    },
    read: (offset, options) => journal.read(offset, options),
    head: () => journal.head(),
    registers: () => journal.registers(),
    close: () => journal.close(),
  };
}
