/**
 * The shapes a playback run takes and reports: its configuration, its result and statistics, and
 * the reasons an op can be skipped.
 */
import type { FSM } from '../fsm.js';
import type { JournalResolver } from '../journal/journal.js';
import type { FSMHints } from '../wire/types.js';
import type { HandoffMailbox } from './handoff.js';
import type { TargetFs } from './target-fs.js';

/**
 * Why an op or byte run was not applied. The first three are normal in every log (older ops
 * before a hint's start, losing hand-offs, files the hints know are dead); the rest are skipped
 * only in lenient mode (strict mode fails with CorruptLogError instead).
 */
export type SkipReason =
  | 'stale-seqno'
  | 'not-hinted-author'
  | 'fnode-not-tracked'
  | 'garbage'
  | 'seqno-gap'
  | 'checksum-mismatch'
  | 'expected-hinted-fnode'
  | 'link-exists'
  | 'no-such-link'
  | 'property-exists';

/** Something abnormal that lenient playback stepped over (or an offset jump, in any mode). */
export interface PlaybackWarning {
  kind: SkipReason | 'offset-jump';
  log: string;
  offset: number;
  message: string;
}

export interface PlayStats {
  /** Ops the FSM applied (including hand-off no-ops). */
  opsApplied: number;
  /** Ops (and garbage runs) not applied, by reason. */
  opsSkipped: Partial<Record<SkipReason, number>>;
  /** Bytes received from journals (a payload verified in two passes counts twice). */
  bytesRead: number;
  /** Write payload bytes written to staged files. */
  payloadBytesWritten: number;
  /** Paths created in the target directory (hard links and property files). */
  files: number;
  /** Wall-clock duration of play(). */
  seconds: number;
}

export interface PlayResult {
  /** The hints' log (the primary log that was played). */
  log: string;
  /** The FSM as of the end of playback: build the next hints from it, or hand it to a Recorder. */
  fsm: FSM;
  /** The recovered directory. */
  dir: string;
  stats: PlayStats;
}

export interface PlaybackConfig {
  hints: FSMHints;
  dir: string;
  journals: JournalResolver;
  fs: TargetFs;
  lenient: boolean;
  signal: AbortSignal | undefined;
  mailbox: HandoffMailbox;
  onTailing: () => void;
  onProgress: ((p: { offset: number; log: string; readThrough: number }) => void) | undefined;
  onWarning: ((w: PlaybackWarning) => void) | undefined;
  maxBufferedPayload: number;
  readSize: number | undefined;
  maxOpenFiles: number | undefined;
}

/** Where a playback run is (internal to Playback; not part of the Player's API). */
export type PlaybackState =
  /** Reading history up to the write head observed at start. */
  | 'backfill'
  /** At the head once; following new ops as they are appended. */
  | 'tail'
  /** finishAtWriteHead() was requested: complete at the next observed head. */
  | 'exit-at-head'
  /** injectHandoff() was requested: append a no-op once at the head. */
  | 'inject-handoff-at-head'
  /** The no-op was appended: read until it shows up, applied (done) or not (retry). */
  | 'read-handoff-barrier'
  | 'complete';
