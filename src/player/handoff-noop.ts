/** The fenced no-op a Player appends to take over a log from its previous Recorder. */
import { authorFence, type FSM } from '../fsm.js';
import type { Journal } from '../journal/journal.js';
import { encodeRecordedOp } from '../wire/codec.js';
import { encodeFrame } from '../wire/framing.js';
import type { Author, RecordedOp } from '../wire/types.js';

/**
 * Appends a no-op sequenced after everything `fsm` applied, fencing the log for `author` (a
 * zombie Recorder's register-checked appends fail from then on). Returns the append's end, which
 * playback reads on to.
 */
export async function appendHandoffNoop(
  journal: Journal,
  fsm: FSM,
  author: Author,
  signal: AbortSignal | undefined,
): Promise<number> {
  const noop: RecordedOp = {
    seqNo: fsm.nextSeqNo,
    checksum: fsm.nextChecksum,
    author,
    firstOffset: 0,
    lastOffset: 0,
    log: '',
  };
  const { end } = await journal.append(encodeFrame(encodeRecordedOp(noop)), {
    unionRegisters: authorFence(author),
    signal,
  });
  return end;
}
