/**
 * Typed errors of the journal layer. Each has a stable `code` for programs and a message that
 * names the journal (and file/offset where there is one) and says what to do next.
 */
import { AbortedError, errorMessage, InvalidArgumentError, RecoveryLogError } from '../errors.js';
import type { Registers } from './journal.js';

// The journal modules take it from here, beside their errors.
export { errorCode } from '../errors.js';

/** Renders registers deterministically (sorted labels) for messages. */
export function formatRegisters(registers: Registers): string {
  const labels = Object.keys(registers).sort();
  if (labels.length === 0) return '{} (none)';
  return `{${labels.map((label) => `${label}=${JSON.stringify(registers[label])}`).join(', ')}}`;
}

/** An append's checkRegisters did not match: another writer has taken over (fenced) the journal. */
export class RegisterMismatchError extends RecoveryLogError {
  readonly journal: string;
  readonly expected: Registers;
  readonly actual: Registers;
  constructor(journal: string, expected: Registers, actual: Registers) {
    super(
      `journal ${JSON.stringify(journal)}: append rejected, nothing was written: it expects ` +
        `registers ${formatRegisters(expected)} but the journal has ${formatRegisters(actual)}. ` +
        'A newer writer has fenced this one; stop writing from this process and let the new ' +
        'owner continue (recover from the log if this process should take over again).',
    );
    this.journal = journal;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * The append's bytes may not have reached stable storage (a write or fdatasync failed). The
 * journal refuses further appends afterwards: once an fsync has failed the kernel may have dropped
 * the dirty pages, so no later sync can be trusted to cover them.
 */
export class JournalWriteError extends RecoveryLogError {
  readonly journal: string;
  constructor(journal: string, detail: string, cause?: unknown) {
    super(
      `journal ${JSON.stringify(journal)}: append failed, its bytes may not be durable (${detail}). ` +
        'The journal refuses further appends; check the storage, then reopen the journal (reopening ' +
        're-validates the files) and retry.',
      { cause },
    );
    this.journal = journal;
  }
}

/** The journal hit a write failure earlier and refuses appends until it is reopened. */
export class JournalFailedError extends RecoveryLogError {
  readonly journal: string;
  constructor(journal: string, cause: unknown) {
    super(
      `journal ${JSON.stringify(journal)}: refusing to append because an earlier append failed ` +
        `(${errorMessage(cause)}). Reopen the journal to continue.`,
      { cause },
    );
    this.journal = journal;
  }
}

/** A non-blocking read at (or beyond) the committed write head. */
export class OffsetNotYetAvailableError extends RecoveryLogError {
  readonly journal: string;
  readonly offset: number;
  readonly head: number;
  constructor(journal: string, offset: number, head: number) {
    super(
      `journal ${JSON.stringify(journal)}: offset ${offset} is not yet available (write head is ` +
        `${head}); read with blocking: true to wait for it.`,
    );
    this.journal = journal;
    this.offset = offset;
    this.head = head;
  }
}

/** An offset that can never be valid (negative, fractional, or beyond 2^53): a caller's bug. */
export function invalidReadOffset(journal: string, offset: number): InvalidArgumentError {
  return new InvalidArgumentError(
    'ReadOffset',
    `journal ${JSON.stringify(journal)}: invalid read offset ${offset}; offsets are integers ` +
      `>= 0 and <= ${Number.MAX_SAFE_INTEGER}.`,
  );
}

/** Bad append input (not bytes, malformed registers, or the journal would outgrow 2^53 bytes). */
export function invalidAppend(journal: string, detail: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'AppendInput',
    `journal ${JSON.stringify(journal)}: invalid append: ${detail}.`,
  );
}

/** A blocking read was cancelled through its AbortSignal; `cause` is the signal's reason. */
export class JournalReadAbortedError extends AbortedError {
  readonly journal: string;
  readonly offset: number;
  constructor(journal: string, offset: number, reason: unknown) {
    super(`journal ${JSON.stringify(journal)}: read at offset ${offset} was aborted.`, {
      cause: reason,
    });
    this.journal = journal;
    this.offset = offset;
  }
}

/**
 * An append was cancelled through its AbortSignal. If it had not been handed to storage yet,
 * nothing was written; otherwise its bytes may still commit.
 */
export class JournalAppendAbortedError extends AbortedError {
  readonly journal: string;
  constructor(journal: string, reason: unknown, mayCommit: boolean) {
    super(
      `journal ${JSON.stringify(journal)}: append was aborted` +
        (mayCommit
          ? '; its bytes had already been handed to storage and may still commit.'
          : '; nothing was written.'),
      { cause: reason },
    );
    this.journal = journal;
  }
}

/** The journal was closed: pending reads reject with this, and so does any later call. */
export class JournalClosedError extends RecoveryLogError {
  readonly journal: string;
  constructor(journal: string) {
    super(`journal ${JSON.stringify(journal)} is closed; open it again to use it.`);
    this.journal = journal;
  }
}

/** No journal at the given location. */
export class JournalNotFoundError extends RecoveryLogError {
  readonly location: string;
  constructor(location: string, detail: string, cause?: unknown) {
    super(
      `no journal at ${location}: ${detail}. Create one with FileJournal.create(dir, name) ` +
        '(or check the path).',
      { cause },
    );
    this.location = location;
  }
}

/** `create` found a journal (or part of one) already in place. */
export class JournalExistsError extends RecoveryLogError {
  readonly location: string;
  constructor(location: string, detail: string) {
    super(
      `cannot create a journal at ${location}: ${detail}. Open it with FileJournal.open(dir), or ` +
        'choose an empty directory.',
    );
    this.location = location;
  }
}

/** A journal file holds bytes that no crash can explain (or that this version cannot read). */
export class JournalCorruptError extends RecoveryLogError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, detail: string, cause?: unknown) {
    super(
      `journal file ${file} is corrupt at byte offset ${offset}: ${detail}. Restore it from a ` +
        'copy, or export what is readable and import it into a new journal.',
      { cause },
    );
    this.file = file;
    this.offset = offset;
  }
}

/** A journal name breaking Gazette's journal-name rules. */
export class InvalidJournalNameError extends RecoveryLogError {
  readonly journalName: string;
  constructor(name: string, problem: string, where?: string) {
    super(
      `invalid journal name ${JSON.stringify(name)}${where === undefined ? '' : ` in ${where}`}: ` +
        `${problem}. Use 4-512 letters, digits or -_+/.=% forming a clean relative path.`,
    );
    this.journalName = name;
  }
}

/** Another live process held the journal's append lock for longer than the lock timeout. */
export class JournalLockedError extends RecoveryLogError {
  readonly journal: string;
  readonly holderPid: number | undefined;
  readonly holderHost: string | undefined;
  constructor(
    journal: string,
    lockFile: string,
    waitedMs: number,
    holder: { pid: number; host: string } | undefined,
  ) {
    const who =
      holder === undefined
        ? 'an unknown process'
        : `process ${holder.pid} on host ${JSON.stringify(holder.host)}`;
    super(
      `journal ${JSON.stringify(journal)}: could not take the append lock ${lockFile} within ` +
        `${waitedMs} ms; it is held by ${who}. Wait for that process to finish, or, if it no ` +
        'longer exists (e.g. it ran on another host), delete the lock file and retry.',
    );
    this.journal = journal;
    this.holderPid = holder?.pid;
    this.holderHost = holder?.host;
  }
}

/**
 * Opening or reading a journal's files failed in the operating system (permissions, an I/O
 * error, a file replaced by a directory), as opposed to content that fails its checks.
 */
export class JournalIOError extends RecoveryLogError {
  readonly file: string;
  constructor(journal: string, file: string, action: string, cause: unknown) {
    super(
      `journal ${JSON.stringify(journal)}: could not ${action} ${file} (${errorMessage(cause)}). ` +
        "Check the file's permissions and the disk, then retry; nothing was changed by this call.",
      { cause },
    );
    this.file = file;
  }
}

/** An append (or prune) on a journal opened with `readOnly`. */
export class JournalReadOnlyError extends RecoveryLogError {
  readonly journal: string;
  constructor(journal: string, location: string) {
    super(
      `journal ${JSON.stringify(journal)} at ${location} was opened read-only; nothing was ` +
        'written. Open it without `readOnly` to append or prune.',
    );
    this.journal = journal;
  }
}

/** Hints need bytes of a journal that prune (or damage) has removed. */
export class JournalRangeMissingError extends RecoveryLogError {
  readonly journal: string;
  readonly from: number;
  readonly to: number;
  constructor(journal: string, from: number, to: number, detail: string, cause?: unknown) {
    super(
      `journal ${JSON.stringify(journal)} no longer holds bytes [${from}, ${to}) ${detail}. ` +
        'They were pruned or lost: recover from newer hints (the primary hints of the current ' +
        'recorder), or restore the missing fragments from a backup.',
      { cause },
    );
    this.journal = journal;
    this.from = from;
    this.to = to;
  }
}

/** The hints given to prune cannot justify deleting anything of this journal. */
export class PruneRefusedError extends RecoveryLogError {
  readonly journal: string;
  constructor(journal: string, detail: string) {
    super(
      `journal ${JSON.stringify(journal)}: nothing pruned: ${detail}. Pass the primary and every ` +
        'backup hints of this log (e.g. `recoverylog prune --log DIR --hints FILE --hints ...`).',
    );
    this.journal = journal;
  }
}

/**
 * Other writers fenced this one at every attempt of a batch: nothing of it was committed. Two
 * processes keep taking the journal from each other (is the lock directory shared but the lock
 * not honoured?). The journal stays usable; retrying may succeed.
 */
export class JournalContendedError extends RecoveryLogError {
  readonly journal: string;
  constructor(journal: string, attempts: number) {
    super(
      `journal ${JSON.stringify(journal)}: append not committed, nothing was written: other ` +
        `writers took the journal over ${attempts} times in a row. Make sure only one process ` +
        'writes this journal at a time (the append lock must be shared), then retry.',
    );
    this.journal = journal;
  }
}
