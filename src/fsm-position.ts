/**
 * Where in a journal the history an FSM has applied ends, for the FSMs whose producer knows it:
 * a Player notes the offset it read its log through, and Recorder.open compares it with the
 * journal's write head (a journal that grew since playback would otherwise be forked silently).
 *
 * Kept beside the FSM rather than in it: the FSM is pure sequencing and knows no offsets. A note
 * holds only while the FSM is where it was when noted: once it applies another op (a Recorder
 * recording into it), the offset no longer describes it and is ignored.
 */
import type { FSM } from './fsm.js';

interface Note {
  log: string;
  offset: number;
  nextSeqNo: number;
  nextChecksum: number;
}

const notes = new WeakMap<FSM, Note>();

/** Records that `fsm` has applied the history of `log` through byte `offset`. */
export function notePlayedThrough(fsm: FSM, log: string, offset: number): void {
  notes.set(fsm, { log, offset, nextSeqNo: fsm.nextSeqNo, nextChecksum: fsm.nextChecksum });
}

/** The offset `fsm` was noted to have played `log` through, if still valid; else undefined. */
export function playedThrough(fsm: FSM, log: string): number | undefined {
  const note = notes.get(fsm);
  if (note === undefined || note.log !== log) return undefined;
  if (note.nextSeqNo !== fsm.nextSeqNo || note.nextChecksum !== fsm.nextChecksum) return undefined;
  return note.offset;
}
