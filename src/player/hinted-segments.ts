/**
 * What the hinted segments ask of playback: that they lie below the write heads observed at
 * start, and how far each must be read.
 */
import type { FSM } from '../fsm.js';
import { describeSegment } from '../segment.js';
import type { Segment } from '../wire/types.js';
import { PossibleDataLossError } from './errors.js';

/**
 * Every hinted segment must lie below its log's write head observed at start (a zero-byte
 * barrier's end): one above it names bytes the journal lost.
 */
export function checkSegmentsBelowHeads(
  segments: readonly Readonly<Segment>[],
  head: (log: string) => number,
): void {
  for (const segment of segments) {
    const logHead = head(segment.log);
    if (segment.firstOffset >= logHead || segment.lastOffset > logHead) {
      throw new PossibleDataLossError(
        segment.log,
        `max write-head of ${segment.log} is ${logHead}, vs hinted segment ` +
          `${describeSegment(segment)}; possible data loss`,
      );
    }
  }
}

/**
 * How far reads for `segment` are needed. A known end (hints a Player built) sizes the reads so
 * that none runs past the segment. The last segment of the hints' log is read on through the
 * write head observed at start, so all of that is needed.
 */
export function segmentNeededThrough(
  fsm: FSM,
  segment: Readonly<Segment>,
  hintsLog: string,
  head: (log: string) => number,
): number {
  if (segment.lastOffset === 0 && segment.log === hintsLog && fsm.hintedSegments.length === 1) {
    return head(segment.log);
  }
  return segment.lastOffset;
}

/**
 * An offset jump (bytes the journal no longer holds) may skip only ranges no hinted segment
 * needs: jumping over the next segment's known end loses data the hints rely on.
 */
export function checkJumpSparesSegment(
  segment: Readonly<Segment> | undefined,
  log: string,
  from: number,
  to: number,
): void {
  if (segment !== undefined && segment.lastOffset !== 0 && segment.lastOffset <= to) {
    throw new PossibleDataLossError(
      log,
      `offset jumps over hinted segment of ${log} (from: ${from}, to: ${to}, ` +
        `hinted range: ${segment.firstOffset}-${segment.lastOffset}); possible data loss`,
    );
  }
}
