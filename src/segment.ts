/**
 * Segments and SegmentSet: which author wrote which run of sequence numbers, where in which log.
 *
 * A SegmentSet is the flattened, SeqNo-ordered view of every segment named by a set of hints. The
 * reduction rules below are Gazette's (`consumer/recoverylog/segment.go`), in the same order,
 * because their order decides which error a given inconsistency reports. Pure: no I/O.
 */
import { errorMessage, InvalidArgumentError, RecoveryLogError } from './errors.js';
import { hex32 } from './format.js';
import { journalNameProblem } from './journal-name.js';
import type { Segment } from './wire/types.js';

/**
 * A Segment is malformed (Gazette's `ValidationError`). `problem` is Gazette's text; `context`
 * names the enclosing fields outermost first (e.g. `['Log']`), joined with '.' in the message
 * exactly as Gazette prints it: `Log: invalid length (0; expected 4 <= length <= 512)`.
 */
export class SegmentValidationError extends RecoveryLogError {
  readonly problem: string;
  readonly context: readonly string[];
  readonly segment: Readonly<Segment>;
  constructor(problem: string, segment: Segment, context: readonly string[] = []) {
    super(context.length ? `${context.join('.')}: ${problem}` : problem);
    this.problem = problem;
    this.context = context;
    this.segment = { ...segment };
  }
}

/**
 * Two segments cannot both be true of one history (they disagree on the author, log, checksum
 * or offsets of some sequence numbers). The message starts with Gazette's text.
 */
export class SegmentConsistencyError extends RecoveryLogError {
  readonly a: Readonly<Segment>;
  readonly b: Readonly<Segment>;
  constructor(what: string, a: Segment, b: Segment) {
    super(`${what}: ${describeSegment(a)} vs ${describeSegment(b)}`);
    this.a = { ...a };
    this.b = { ...b };
  }
}

/**
 * `SegmentSet.intersect` was called with arguments it cannot answer: a reversed offset range, or
 * a log that some member of the set is not in (Gazette panics in both cases).
 */
export function segmentRange(message: string): InvalidArgumentError {
  return new InvalidArgumentError('SegmentRange', message);
}

/** Marker returned by `reduceSegment` when two consistent segments cannot be merged into one. */
export const NOT_REDUCIBLE: unique symbol = Symbol('not reducible');
export type NotReducible = typeof NOT_REDUCIBLE;

/** Compact, human-readable form of a segment for error messages. */
export function describeSegment(s: Segment): string {
  const last = s.lastOffset === 0 ? 'unknown' : String(s.lastOffset);
  return (
    `{author ${s.author} (${hex32(s.author)}), seqNo ${s.firstSeqNo}..${s.lastSeqNo}, ` +
    `offsets [${s.firstOffset}, ${last}), firstChecksum ${hex32(s.firstChecksum)}, ` +
    `log ${JSON.stringify(s.log)}}`
  );
}

/** Throws SegmentValidationError for the first of Gazette's checks that `s` fails. */
export function validateSegment(s: Segment): void {
  const fail = (problem: string, context?: string[]): never => {
    throw new SegmentValidationError(problem, s, context);
  };
  if (s.author === 0) fail('Author is zero');
  if (s.firstSeqNo <= 0) fail('FirstSeqNo <= 0');
  if (s.firstOffset < 0) fail('FirstOffset < 0');
  if (s.lastSeqNo < s.firstSeqNo) fail('LastSeqNo < segment.FirstSeqNo');
  if (s.lastOffset !== 0 && s.lastOffset <= s.firstOffset) {
    fail('LastOffset <= segment.FirstOffset');
  }
  const logProblem = journalNameProblem(s.log);
  if (logProblem !== undefined) fail(logProblem, ['Log']);
}

/**
 * Reduces two segments into one when they overlap or abut with the same author and log. Returns
 * the merged segment (a new object), NOT_REDUCIBLE when they are consistent but separate, and
 * throws SegmentConsistencyError when they contradict each other. Symmetric in its arguments.
 */
export function reduceSegment(x: Segment, y: Segment): Segment | NotReducible {
  // Order the pair so that `a` starts first (and, on a tie, is the longer one): every rule
  // below is written for that orientation, which is what makes the reduction symmetric.
  const swap =
    x.firstSeqNo > y.firstSeqNo || (x.firstSeqNo === y.firstSeqNo && x.lastSeqNo < y.lastSeqNo);
  const a = swap ? y : x;
  const b = swap ? x : y;
  const sameLog = a.log === b.log;
  const inconsistent = (what: string): never => {
    throw new SegmentConsistencyError(what, a, b);
  };

  // The order of these rules is Gazette's; it decides which error an inconsistency reports.
  if (a.firstSeqNo < b.firstSeqNo && sameLog && a.firstOffset > b.firstOffset) {
    inconsistent('expected monotonic FirstOffset');
  }
  if (a.firstSeqNo < b.firstSeqNo && a.lastOffset === 0 && b.lastOffset !== 0) {
    inconsistent('expected preceding Segment to also include LastOffset');
  }
  if (a.lastOffset === 0 && !sameLog) {
    inconsistent('Segment cannot use a different log where preceding Segment.LastOffset is zero');
  }
  if (
    sameLog &&
    ((a.lastSeqNo <= b.lastSeqNo && b.lastOffset !== 0 && b.lastOffset < a.lastOffset) ||
      (a.lastSeqNo >= b.lastSeqNo && a.lastOffset !== 0 && a.lastOffset < b.lastOffset))
  ) {
    inconsistent('expected monotonic LastOffset');
  }
  if (a.firstSeqNo === b.firstSeqNo && a.firstChecksum !== b.firstChecksum) {
    inconsistent('expected FirstChecksum equality');
  }
  if (a.lastSeqNo + 1 < b.firstSeqNo) return NOT_REDUCIBLE; // Disjoint.
  if (a.lastSeqNo + 1 === b.firstSeqNo && (a.author !== b.author || !sameLog)) {
    return NOT_REDUCIBLE; // Adjacent runs of different authors or logs stay separate.
  }
  // Every remaining case shares at least one SeqNo (or abuts), so one author and log must own it.
  if (a.author !== b.author) inconsistent('expected Segment Author equality');
  if (!sameLog) inconsistent('expected Segment Log equality');

  const merged: Segment = { ...a };
  // first_offset may be a lower bound (Recorder-produced): the larger bound is the tighter one.
  if (a.firstSeqNo === b.firstSeqNo && a.firstOffset < b.firstOffset) {
    merged.firstOffset = b.firstOffset;
  }
  // last_offset 0 means "unknown": prefer a known value (monotonicity was checked above).
  if (a.lastSeqNo === b.lastSeqNo && a.lastOffset === 0) merged.lastOffset = b.lastOffset;
  if (a.lastSeqNo < b.lastSeqNo) {
    merged.lastSeqNo = b.lastSeqNo;
    merged.lastOffset = b.lastOffset;
  }
  return merged;
}

/** Index of the first element for which `pred` holds, given `pred` is monotone over `arr`. */
function lowerBound<T>(arr: readonly T[], pred: (item: T) => boolean): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(arr[mid]!)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * An ordered set of segments with Gazette's invariants (see `checkSegmentSetInvariants`). Members
 * are frozen copies: the set can only change through `add`, which validates and merges.
 */
export class SegmentSet implements Iterable<Readonly<Segment>> {
  readonly #segments: Readonly<Segment>[] = [];

  /** Builds a set by adding `segments` in order (throws like `add`). */
  static from(segments: Iterable<Segment>): SegmentSet {
    const set = new SegmentSet();
    for (const s of segments) set.add(s);
    return set;
  }

  get segments(): readonly Readonly<Segment>[] {
    return this.#segments;
  }

  get length(): number {
    return this.#segments.length;
  }

  [Symbol.iterator](): Iterator<Readonly<Segment>> {
    return this.#segments[Symbol.iterator]();
  }

  /**
   * Adds `seg`, merging it with the predecessor and the followers it overlaps or abuts. Throws
   * SegmentValidationError or SegmentConsistencyError and leaves the set unchanged when `seg`
   * is malformed or contradicts a member.
   */
  add(seg: Segment): void {
    validateSegment(seg);
    const s = this.#segments;
    let merged: Segment = { ...seg };

    let begin = lowerBound(s, (m) => m.firstSeqNo >= seg.firstSeqNo);
    // Only the immediate predecessor can reach into `seg`: members' SeqNo ranges are disjoint
    // and ordered.
    if (begin > 0) {
      const r = reduceSegment(s[begin - 1]!, merged);
      if (r !== NOT_REDUCIBLE) {
        merged = r;
        begin--;
      }
    }
    let end = begin;
    for (; end < s.length; end++) {
      const r = reduceSegment(s[end]!, merged);
      if (r === NOT_REDUCIBLE) break;
      merged = r;
    }
    s.splice(begin, end - begin, Object.freeze(merged));
  }

  /**
   * The contiguous run of members whose byte range overlaps `[firstOffset, lastOffset)` of `log`.
   * Every member must be in `log` (offsets of different logs are not comparable).
   */
  intersect(log: string, firstOffset: number, lastOffset: number): Readonly<Segment>[] {
    if (lastOffset < firstOffset) {
      throw segmentRange(
        `invalid range: lastOffset ${lastOffset} < firstOffset ${firstOffset}; pass an ordered ` +
          `[firstOffset, lastOffset) range`,
      );
    }
    const s = this.#segments;
    for (const m of s) {
      if (m.log !== log) {
        throw segmentRange(
          `segment.Log != log: cannot intersect offsets of log ${JSON.stringify(log)} with ` +
            `${describeSegment(m)}; intersect only sets whose segments are all in that log`,
        );
      }
    }
    // End: the first member starting at or after `lastOffset`. Start: walk back while the
    // preceding member may still reach past `firstOffset` (an unknown last offset always may).
    const j = lowerBound(s, (m) => m.firstOffset >= lastOffset);
    let i = j;
    while (i > 0 && (s[i - 1]!.lastOffset === 0 || s[i - 1]!.lastOffset > firstOffset)) i--;
    return s.slice(i, j);
  }
}

/**
 * Returns a description of the first SegmentSet invariant that `segments` breaks, or undefined
 * when it holds them all:
 *  - every member is a valid Segment;
 *  - SeqNo ranges strictly increase and do not overlap (one author per covered SeqNo);
 *  - within one log, first_offset never decreases and known last_offsets never decrease;
 *  - within one log, members with an unknown (0) last_offset form a suffix.
 */
export function checkSegmentSetInvariants(
  segments: readonly Readonly<Segment>[],
): string | undefined {
  const lastOfLog = new Map<string, Readonly<Segment>>();
  const unknownEndSeen = new Set<string>();
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    try {
      validateSegment(s);
    } catch (err) {
      return `segment #${i} is invalid: ${errorMessage(err)}`;
    }
    if (i > 0 && segments[i - 1]!.lastSeqNo >= s.firstSeqNo) {
      return `segments #${i - 1} and #${i} overlap or are out of SeqNo order`;
    }
    const prev = lastOfLog.get(s.log);
    if (prev !== undefined) {
      if (prev.firstOffset > s.firstOffset) {
        return `segment #${i} has a smaller firstOffset than an earlier segment of its log`;
      }
      if (s.lastOffset !== 0 && prev.lastOffset !== 0 && prev.lastOffset > s.lastOffset) {
        return `segment #${i} has a smaller lastOffset than an earlier segment of its log`;
      }
    }
    if (s.lastOffset === 0) unknownEndSeen.add(s.log);
    else if (unknownEndSeen.has(s.log)) {
      return `segment #${i} has a known lastOffset after a segment of its log with lastOffset 0`;
    }
    lastOfLog.set(s.log, s);
  }
  return undefined;
}
