/**
 * Re-recording long-lived files, the choosing part (beyond Gazette; gazette/core#236). Pure: no
 * I/O. RecordedFs reads and swaps (rerecord, rerecordPinning, buildHints); Recorder.recordRerecord
 * records the swap.
 *
 * A live file's hints segment starts at its create op, so playback reads the log from there and
 * prune keeps every fragment from there on: one file created long ago and still live (a CURRENT
 * file, a settings file, an append-only log) pins the whole log after its creation, however little
 * of it is live. Re-recording it records its current bytes as a new file identity at the head; the
 * old identity dies and takes its old segments out of the hints, so the log can be pruned past
 * them. It costs one copy of the file's bytes in the log.
 */
import type { FSM } from './fsm.js';
import { invalidRerecordPolicy } from './recorder-errors.js';
import type { Fnode } from './wire/types.js';

/**
 * When RecordedFs.buildHints() re-records long-lived files first (RecordedFs option `rerecord`).
 * A file is re-recorded once the log holds more than `maxPinnedBytes` bytes since the file's
 * recorded history began in it, not counting the file's own current size (so a file larger than
 * the bound is not copied again and again: only other traffic counts). Hints built then never ask
 * to keep much more than `maxPinnedBytes` of log behind the write head, once a run or two has
 * caught up (each run re-records at most `maxFilesPerRun` files, lowest first).
 */
export interface RerecordPolicy {
  /** Bytes of log a live file may keep from pruning besides its own content. */
  maxPinnedBytes: number;
  /** Files re-recorded per buildHints() at most (default DEFAULT_RERECORD_FILES_PER_RUN). */
  maxFilesPerRun?: number;
}

export const DEFAULT_RERECORD_FILES_PER_RUN = 16;

/** A live file whose recorded history begins early in the log. */
export interface PinningFile {
  readonly fnode: Fnode;
  /** Its links, in recorded form ('/rel/path'). */
  readonly paths: readonly string[];
  /** Where its history in the log begins (a lower bound, as a Recorder's segments have). */
  readonly firstOffset: number;
}

/** What one re-record did. */
export interface RerecordResult {
  /** The file's paths (absolute), all links of `to` now. */
  readonly paths: readonly string[];
  /** The identity the file had (dead now). */
  readonly from: Fnode;
  /** Its new identity. */
  readonly to: Fnode;
  /** Bytes of content recorded. */
  readonly bytes: number;
}

/**
 * The live files of `fsm` whose history in `log` begins below offset `below`, lowest first (then
 * by Fnode). Files with no segment in `log` (their history is all in older logs) do not pin it.
 */
export function pinningFiles(fsm: FSM, log: string, below: number): PinningFile[] {
  const found: PinningFile[] = [];
  for (const [fnode, node] of fsm.liveNodes) {
    let first = Number.POSITIVE_INFINITY;
    for (const segment of node.segments) {
      if (segment.log === log) first = Math.min(first, segment.firstOffset);
    }
    if (first < below) found.push({ fnode, paths: [...node.links], firstOffset: first });
  }
  return found.sort((a, b) => a.firstOffset - b.firstOffset || a.fnode - b.fnode);
}

/** `policy` with its defaults; throws InvalidArgumentError (reason RerecordPolicy) for unusable values. */
export function checkRerecordPolicy(policy: RerecordPolicy): Required<RerecordPolicy> {
  const { maxPinnedBytes, maxFilesPerRun = DEFAULT_RERECORD_FILES_PER_RUN } = policy;
  if (!Number.isSafeInteger(maxPinnedBytes) || maxPinnedBytes < 0) {
    throw invalidRerecordPolicy(
      `maxPinnedBytes must be a non-negative integer, got ${String(maxPinnedBytes)}`,
    );
  }
  checkMaxFiles('maxFilesPerRun', maxFilesPerRun);
  return { maxPinnedBytes, maxFilesPerRun };
}

/** Throws InvalidArgumentError (reason RerecordPolicy) unless `value` is a positive integer. */
export function checkMaxFiles(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw invalidRerecordPolicy(`${name} must be a positive integer, got ${String(value)}`);
  }
}

/**
 * Whether `policy` wants a file re-recorded whose history begins at `firstOffset` and which now
 * holds `size` bytes, with the log's write head at `writeHead`.
 */
export function pinsTooMuch(
  policy: Required<RerecordPolicy>,
  writeHead: number,
  firstOffset: number,
  size: number,
): boolean {
  return writeHead - firstOffset - size > policy.maxPinnedBytes;
}
