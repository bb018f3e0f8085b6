/**
 * FSMHints: validation, flattening into a SegmentSet, and the two stored forms.
 *
 * Gazette stores hints as Go `encoding/json` output (struct tags of recorded_op.pb.go) and reads
 * either that or protobuf, choosing by the first byte. We write both forms byte-for-byte as Go
 * would (hints-json-write.ts), and read both as tolerantly as Go does (hints-json-read.ts), but
 * refuse numbers a JS number cannot hold exactly. Pure: no I/O.
 */
import { errorMessage } from './errors.js';
import { HintsDecodeError, HintsValidationError, type HintsFormat } from './hints-errors.js';
import { hintsFromJSON } from './hints-json-read.js';
import { hintsToJSON } from './hints-json-write.js';
import {
  SegmentConsistencyError,
  SegmentSet,
  SegmentValidationError,
  validateSegment,
} from './segment.js';
import { decodeFSMHints, encodeFSMHints } from './wire/codec.js';
import type { Fnode, FnodeSegments, FSMHints } from './wire/types.js';

export { HintsDecodeError, HintsValidationError, type HintsFormat } from './hints-errors.js';
export { hintsFromJSON } from './hints-json-read.js';
export { hintsToJSON } from './hints-json-write.js';

const HINTS_ADVICE =
  'these hints cannot describe one linear history: regenerate them from a healthy recorder, ' +
  'use the backup hints, or play the log without hints';

/**
 * Checks every segment of `h` as Gazette's `FSMHints.Validate` does: a segment with an empty log
 * is checked as if its log were `h.log`; one that repeats `h.log` explicitly is refused.
 * Throws HintsValidationError whose message starts with Gazette's text (`Segment.Log: ...`).
 */
export function validateHints(h: FSMHints): void {
  h.liveNodes.forEach((node, n) => {
    node.segments.forEach((seg, i) => {
      const where = ` (live node #${n}, fnode ${node.fnode}, segment #${i})`;
      if (seg.log !== '' && seg.log === h.log) {
        throw new HintsValidationError(
          `contained segment.Log duplicates FSMHints.Log${where}: leave a segment's log empty ` +
            `when it is the hints' log`,
        );
      }
      try {
        validateSegment(seg.log === '' ? { ...seg, log: h.log } : seg);
      } catch (err) {
        if (!(err instanceof SegmentValidationError)) throw err;
        const context = ['Segment', ...err.context].join('.');
        throw new HintsValidationError(`${context}: ${err.problem}${where}`, { cause: err });
      }
    });
  });
}

/**
 * Flattens hinted live nodes into their ordered Fnodes and one SegmentSet (segments with an
 * empty log take `h.log`). Throws HintsValidationError (Gazette's messages first) when a node's
 * first segment does not start at its Fnode, Fnodes are not strictly increasing, segments
 * contradict each other, or the last segment is not in `h.log`.
 */
export function liveLogSegments(h: FSMHints): { fnodes: Fnode[]; segments: SegmentSet } {
  const fnodes: Fnode[] = [];
  const set = new SegmentSet();

  h.liveNodes.forEach((node: FnodeSegments, n) => {
    const first = node.segments[0];
    if (first === undefined || first.firstSeqNo !== node.fnode) {
      const why =
        first === undefined
          ? `live node #${n} (fnode ${node.fnode}) has no segments`
          : `live node #${n} is fnode ${node.fnode} but its first segment starts at SeqNo ${first.firstSeqNo}`;
      throw new HintsValidationError(
        `expected Fnode to match Segment FirstSeqNo: ${why}; ${HINTS_ADVICE}`,
      );
    }
    const prev = fnodes[fnodes.length - 1];
    if (prev !== undefined && prev >= node.fnode) {
      throw new HintsValidationError(
        `expected monotonic Fnode ordering: ${prev} vs ${node.fnode} (live node #${n}); ` +
          HINTS_ADVICE,
      );
    }
    fnodes.push(node.fnode);

    for (const seg of node.segments) {
      try {
        set.add(seg.log === '' ? { ...seg, log: h.log } : seg);
      } catch (err) {
        if (err instanceof SegmentConsistencyError || err instanceof SegmentValidationError) {
          throw new HintsValidationError(
            `${err.message} (adding a segment of fnode ${node.fnode}); ${HINTS_ADVICE}`,
            { cause: err },
          );
        }
        throw err;
      }
    }
  });

  const last = set.segments[set.length - 1];
  if (last !== undefined && last.log !== h.log) {
    // A player that finishes the hinted segments continues in h.log, and it can only know which
    // SeqNo and checksum to expect there if the last hinted segment is in that log too.
    throw new HintsValidationError(
      `expected hints.Log ${h.log} to equal the last Segment Log ${last.log}; ${HINTS_ADVICE}`,
    );
  }
  return { fnodes, segments: set };
}

/** Serialises hints in the chosen stored form (JSON as Gazette writes it today, or protobuf). */
export function encodeHints(h: FSMHints, format: HintsFormat): Uint8Array {
  return format === 'json' ? new TextEncoder().encode(hintsToJSON(h)) : encodeFSMHints(h);
}

/**
 * Decodes stored hints: bytes starting with `{` are JSON, anything else protobuf (Gazette's
 * rule). Every failure is a HintsDecodeError (the parser's error is its `cause`).
 */
export function decodeHints(bytes: Uint8Array): FSMHints {
  if (bytes.length > 0 && bytes[0] === 0x7b) {
    // Go keeps invalid UTF-8 in strings as U+FFFD when decoding JSON; the lenient decoder agrees.
    return hintsFromJSON(new TextDecoder('utf-8').decode(bytes));
  }
  try {
    return decodeFSMHints(bytes);
  } catch (err) {
    if (err instanceof HintsDecodeError) throw err;
    throw new HintsDecodeError('protobuf', errorMessage(err), { cause: err });
  }
}
