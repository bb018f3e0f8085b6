/**
 * Applying one op to the Player's FSM, and sorting the FSM's refusals into the ops every log has
 * (stale, losing hand-offs, dead files) and the ones only corruption explains.
 */
import { FSMError, type FSM } from '../fsm.js';
import type { RecordedOp } from '../wire/types.js';
import type { CorruptionKind } from './errors.js';
import type { SkipReason } from './playback-types.js';

/**
 * Reports corruption found at `log`:`offset`: throws in strict mode; in lenient mode warns and
 * returns `kind`, the reason to count the skip under.
 */
export type CorruptionReporter = <K extends CorruptionKind & SkipReason>(
  kind: K,
  log: string,
  offset: number,
  detail: string,
  cause?: unknown,
) => K;

/** Applies `op` to `fsm`: 'applied', or why it was skipped (`corruption` decides strictness). */
export function applyOp(
  fsm: FSM,
  op: RecordedOp,
  payload: Uint8Array,
  corruption: CorruptionReporter,
): 'applied' | SkipReason {
  const expectedSeqNo = fsm.nextSeqNo;
  try {
    fsm.apply(op, payload);
    return 'applied';
  } catch (err) {
    if (!(err instanceof FSMError)) throw err;
    const log = op.log;
    const at = op.firstOffset;
    switch (err.code) {
      case 'ErrFnodeNotTracked':
        return 'fnode-not-tracked';
      case 'ErrNotHintedAuthor':
        return 'not-hinted-author';
      case 'ErrWrongSeqNo':
        if (op.seqNo < expectedSeqNo) return 'stale-seqno';
        return corruption(
          'seqno-gap',
          log,
          at,
          `op SeqNo ${op.seqNo} skips ahead of the expected SeqNo ${expectedSeqNo}: ops ` +
            `${expectedSeqNo}..${op.seqNo - 1} are missing`,
          err,
        );
      case 'ErrChecksumMismatch':
        return corruption(
          'checksum-mismatch',
          log,
          at,
          `op SeqNo ${op.seqNo} does not continue the history read so far (${err.message}); ` +
            'the log forks or was altered',
          err,
        );
      case 'ErrExpectedHintedFnode':
        return corruption('expected-hinted-fnode', log, at, err.message, err);
      case 'ErrLinkExists':
        return corruption('link-exists', log, at, err.message, err);
      case 'ErrNoSuchLink':
        return corruption('no-such-link', log, at, err.message, err);
      case 'ErrPropertyExists':
        return corruption('property-exists', log, at, err.message, err);
    }
  }
}
