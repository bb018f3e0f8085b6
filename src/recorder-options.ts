/**
 * The Recorder's options and the checks made before it records anything: the recorded
 * directory, property paths, and whether the FSM may continue the journal at all.
 */
import { posix } from 'node:path';
import type { FSM } from './fsm.js';
import { playedThrough } from './fsm-position.js';
import type { Journal } from './journal/journal.js';
import {
  FsmJournalMismatchError,
  invalidPropertyPath,
  invalidRecorderDir,
  invalidWrite,
} from './recorder-errors.js';
import type { Author } from './wire/types.js';

/** Paths recorded by content (Property ops) instead of as files: RocksDB's database GUID. */
export const DEFAULT_PROPERTY_PATHS: readonly string[] = ['/IDENTITY'];

export interface RecorderOptions {
  /** The recovery log to append to. */
  journal: Journal;
  /** The FSM of the history so far (fresh, or from a finished playback). The Recorder owns it. */
  fsm: FSM;
  /** This Recorder's identity (see newRandomAuthor()). */
  author: Author;
  /** Absolute, clean POSIX path of the recorded directory. */
  dir: string;
  /** Cancels waits (open, barrier, buildHints); ops already recorded are still appended. */
  signal?: AbortSignal;
  /** Relative paths (with leading '/') recorded as properties. Default: DEFAULT_PROPERTY_PATHS. */
  propertyPaths?: Iterable<string>;
  /**
   * Append without checking the author register. Only for tests that build raced histories on
   * purpose: without the check, a zombie Recorder keeps appending after a hand-off.
   */
  disableRegisterChecks?: boolean;
  /**
   * How long recorded ops may wait in the Recorder for a barrier to take them along. Default 0:
   * they are appended at the end of the synchronous run that recorded them (eager, as Gazette's
   * recorder hands each op to its journal client at once). More: the ops recorded between two
   * barriers (a store's writes between two fsyncs) share the barrier's durable commit, which
   * RecordedFs issues while the file's own fsync runs; eager appends cost a commit each that the
   * fsync then queues behind (measured on the demo store: 2.1 journal commits per fsync instead
   * of 1, and about 1.5-2x its recorded run time). Queued ops are handed over anyway after this
   * many milliseconds, when 1 MiB is queued, or before any wait. What waiting gives up: a Player
   * following the log sees unacknowledged ops up to this much later, their segments' first
   * offsets in hints are looser lower bounds, and when another writer in this process takes the
   * log over they are fenced out (the Recorder fails) rather than ordered before the hand-off.
   * The contract allows all three (they were never acknowledged); the default keeps them.
   */
  flushDelayMs?: number;
}

/** Intent of an open, as POSIX open(2) flags express it. */
export interface OpenFileFlags {
  /** O_CREAT: create the file when the path is unknown. */
  create?: boolean;
  /** O_EXCL: the path must be unknown. */
  exclusive?: boolean;
  /** O_TRUNC: an existing file is replaced by a new, empty one. */
  truncate?: boolean;
}

export interface WaitOptions {
  signal?: AbortSignal;
}

/** Options of Recorder.recordWriteAt. */
export interface RecordWriteOptions {
  /**
   * The caller hands `data` over: the Recorder appends that buffer itself instead of a copy, and
   * its checksum is computed once (the journal combines it rather than reading the bytes again).
   * Ownership rule: the caller must not modify `data` until a barrier issued after this call
   * resolves. Bytes changed before that are a corrupt journal (a checksum mismatch when read),
   * never a silent change.
   */
  readonly handOver?: boolean;
}

/** Throws InvalidArgumentError unless `dir` is an absolute, clean POSIX directory path. */
export function checkRecorderDir(dir: string): void {
  if (!isCleanAbsoluteDir(dir)) throw invalidRecorderDir(dir);
}

/** Throws InvalidArgumentError for a property path that is not a clean '/rel/path'. */
export function checkPropertyPaths(propertyPaths: Iterable<string> | undefined): void {
  for (const p of propertyPaths ?? []) {
    if (!p.startsWith('/') || posix.normalize(p) !== p || p.endsWith('/')) {
      throw invalidPropertyPath(p);
    }
  }
}

function isCleanAbsoluteDir(dir: string): boolean {
  if (typeof dir !== 'string' || !posix.isAbsolute(dir)) return false;
  return dir === '/' || (posix.normalize(dir) === dir && !dir.endsWith('/'));
}

/**
 * Throws FsmJournalMismatchError unless `fsm` may continue the journal `log`, whose write head is
 * `head`. Without this check both writers of a fork are acknowledged and strict playback follows
 * the first one, silently skipping every op of the second (see Recorder.open).
 */
export function checkFsmContinuesJournal(fsm: FSM, log: string, head: number): void {
  const played = playedThrough(fsm, log);
  if (played !== undefined) {
    if (head === played) return;
    throw new FsmJournalMismatchError(
      log,
      head,
      played,
      head > played
        ? `the FSM was played through offset ${played}, but the journal has grown to ${head} ` +
            `since (another writer appended)`
        : `the FSM was played through offset ${played}, but the journal ends at ${head} (a ` +
            `different journal, or one that lost bytes)`,
    );
  }
  if (head === 0) return;
  // SeqNo 1 with a zero checksum: no op applied, the state of hints without live files.
  if (fsm.nextSeqNo === 1 && fsm.nextChecksum === 0) {
    throw new FsmJournalMismatchError(
      log,
      head,
      undefined,
      `the FSM is new (it has applied no op) but the journal already holds ${head} bytes`,
    );
  }
  if (fsm.lastLog !== log) {
    throw new FsmJournalMismatchError(
      log,
      head,
      undefined,
      `the FSM's history is in ${JSON.stringify(fsm.lastLog)}, and it never read the ${head} ` +
        `bytes this journal already holds`,
    );
  }
}

/** Throws InvalidArgumentError (reason InvalidWrite) for a write range beyond safe integers. */
export function checkWriteRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw invalidWrite(`offset ${offset} is not a non-negative integer`);
  }
  if (!Number.isSafeInteger(offset + length)) {
    throw invalidWrite(`offset ${offset} + length ${length} is too large`);
  }
}

/** The permission bits of a mode or st_mode (setuid, setgid, sticky and rwx for all). */
export function permissionBits(mode: number): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0xffffffff) {
    throw invalidWrite(`mode ${mode} is not an unsigned 32-bit integer`);
  }
  return mode & 0o7777;
}

/** Lone surrogates cannot be encoded as UTF-8: a proto string would silently alter them. */
export function isWellFormedUtf16(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}
