/**
 * What the power-cut driver and its recording child (recorder-child.ts) say to each other.
 *
 * The child reports on stdout, one JSON object per line, written synchronously (the line is in
 * the pipe when the call returns, so a SIGKILL right after cannot lose it). The pipe ends in the
 * driver's memory: this is the ledger OFF the flakey device. Every report says something that has
 * ALREADY happened; `at` is CLOCK_MONOTONIC in microseconds (process.hrtime), the same clock in
 * every process of the VM, so the driver can tell reports made before a power cut began from
 * reports made during it.
 *
 * The driver sends the child one ChildConfig line on stdin, and later optional command lines
 * ("probe": after an error_writes window, check that the failed Recorder and journal still
 * refuse to acknowledge anything).
 */
import { RecoveryLogError } from '../../../src/errors.js';
import type { KillOp } from '../kill/model.js';

export interface ChildConfig {
  journalDir: string;
  journalName: string;
  hintsDir: string;
  /** The recorded directory (on the flakey mount); the child recovers into it first. */
  treeDir: string;
  /** This child's Recorder author (the hand-off fences the log for it). */
  author: number;
  /**
   * The previous child's author: after the hand-off, the child plays it as a zombie (a Recorder
   * from the FSM before the hand-off) and reports whether the journal fenced it out.
   */
  zombieAuthor?: number;
  /** Workload choices (ops, barrier and hints spacing). */
  seed: number;
  /**
   * The journal's roll size (FileJournalOptions.fragmentBytes): small, so that recording rolls
   * to new fragments often. Default: the library's.
   */
  fragmentBytes?: number;
  /**
   * After each primary hints store, prune the journal with the primary and every stored backup
   * (`journal.prune([primary, ...backups])`), as an application that keeps its log small does:
   * 'between' awaits the prune before the next op; 'beside' lets it run while recording goes on.
   */
  prune?: 'between' | 'beside';
  /**
   * Skip a prune when a dry run says the hints need the whole log (offset 0): a prune then
   * deletes nothing but empty fragments at offset 0, which a known library bug deletes without a
   * prune mark, leaving a journal that no longer opens (DMFLAKEY_AVOID_KNOWN_BUGS=1; README).
   */
  skipPruneNeedingAll?: boolean;
  /**
   * Seeded harness bug (DMFLAKEY_SEEDED_NO_SYNC=1): the journal's fsyncs do nothing, so
   * acknowledged ops are lost at a power cut. A run with it must report I2 violations.
   */
  unsyncedJournal?: boolean;
}

/** Outcome of one call the driver asked about: resolved, or rejected with a typed error or not. */
export interface Outcome {
  ok: boolean;
  /** Rejected with one of the library's typed errors (a RecoveryLogError). */
  typed?: boolean;
  errorName?: string;
  errorCode?: string;
  message?: string;
}

export type ChildReport =
  /** Modules loaded; waiting for the config line. */
  | { t: 'loaded'; at: number }
  /** The journal is open (created now when `created`), its head is `head`. */
  | { t: 'opened'; at: number; created: boolean; head: number }
  /**
   * Playback with hand-off finished: the tree in treeDir has canonical key `key` (see
   * test/crash/lib/tree-model.ts observedKey), the FSM is at (`seqNo`, `checksum`) after this
   * child's hand-off no-op, which is durable.
   */
  | {
      t: 'recovered';
      at: number;
      key: string;
      seqNo: number;
      checksum: number;
      hinted: boolean;
      playMs: number;
    }
  /** The zombie (previous author, stale FSM) tried to record `path`; `fenced` = RegisterMismatchError. */
  | { t: 'zombie'; at: number; author: number; path: string; fenced: boolean; outcome: Outcome }
  /** Recording starts. */
  | { t: 'ready'; at: number }
  /** About to perform op `i` (1-based, this child's): it may reach the journal from now on. */
  | { t: 'op'; at: number; i: number; op: KillOp }
  /** Op `i` was recorded (its append is queued); the Recorder's FSM is now at (seqNo, checksum). */
  | { t: 'post'; at: number; i: number; seqNo: number; checksum: number }
  /** Ops 1..i are durable: a barrier (or BuildHints) issued after op i resolved at `at`. */
  | { t: 'ack'; at: number; i: number; head: number }
  /** Primary hints covering ops 1..i (SeqNos up to `seqNo`) were stored. */
  | { t: 'hints'; at: number; i: number; seqNo: number }
  /** About to call journal.prune (after hints `i`). */
  | { t: 'prune'; at: number; i: number }
  /** journal.prune resolved: it deleted `deleted` fragments below offset `below`, kept `kept`. */
  | { t: 'pruned'; at: number; i: number; deleted: number; kept: number; below: number }
  /**
   * A journal storage event worth placing a power cut against (reported by the child's storage
   * wrapper, synchronously, right after the call returned): see StorageEvent.
   */
  | { t: 'io'; at: number; ev: StorageEvent; file: string }
  /**
   * Something the workload did failed (`what`: barrier, barrier-after-failure, record, hints).
   * For 'record': whether the Recorder recorded the op anyway (its FSM moved).
   */
  | { t: 'fail'; at: number; i: number; what: string; outcome: Outcome; recorded?: boolean }
  /** After a failure: the child stopped recording and waits (for "probe" or the kill). */
  | { t: 'stopped'; at: number }
  /** Answer to "probe": a Recorder barrier and a raw zero-byte journal append. */
  | { t: 'probe'; at: number; barrier: Outcome; append: Outcome }
  /** The child could not go on (e.g. the journal could not be opened); it exits. */
  | { t: 'error'; at: number; stage: string; outcome: Outcome };

/**
 * The journal's rare storage events (one fragment's life, and prune), as the child sees its calls:
 * - claim: `<epoch>.index` created exclusively (a writer starts an epoch: a take-over or a roll);
 * - start: the START record is durable (the epoch runs: the take-over or roll is over);
 * - seal: a SEAL record was written (a roll begins, or the journal closes), sealed: and synced;
 * - fence: a FENCE record was appended to another epoch's index (a take-over);
 * - mark: a prune mark `pruned-<offset>` was created (prune deletes fragments from now on);
 * - unlink: a fragment file was deleted (prune);
 * - unmark: an older prune mark was removed (the end of a prune).
 */
export type StorageEvent =
  'claim' | 'start' | 'seal' | 'sealed' | 'fence' | 'mark' | 'unlink' | 'unmark';

/** CLOCK_MONOTONIC in microseconds (the same clock in every process of the machine). */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function outcomeOf(error: unknown): Outcome {
  if (!(error instanceof Error))
    return { ok: false, errorName: typeof error, message: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    ok: false,
    typed: error instanceof RecoveryLogError,
    errorName: error.constructor.name,
    errorCode: typeof code === 'string' ? code : undefined,
    message: error.message,
  };
}

export function describeOutcome(outcome: Outcome): string {
  if (outcome.ok) return 'resolved';
  const code = outcome.errorCode ? `[${outcome.errorCode}]` : '';
  return `${outcome.errorName ?? 'Error'}${code}: ${outcome.message ?? ''}`;
}

/** Parses one report line; undefined for lines that are not reports (e.g. stray output). */
export function parseReport(line: string): ChildReport | undefined {
  if (!line.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const report = value as { t?: unknown; at?: unknown };
  if (typeof report.t !== 'string' || typeof report.at !== 'number') return undefined;
  return value as ChildReport;
}
