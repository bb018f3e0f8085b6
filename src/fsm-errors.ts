/**
 * The FSM's errors: Gazette's `Err*` names (our stable codes) and messages, each with the fields
 * a caller needs to report or branch on. Kept apart from the FSM's sequencing (fsm.ts).
 */
import { codeOfClass, RecoveryLogError } from './errors.js';
import { hex32 } from './format.js';
import type { Author, Fnode } from './wire/types.js';

/** Gazette's FSM error names, used as our stable `code`s. */
export type FSMErrorCode =
  | 'ErrChecksumMismatch'
  | 'ErrExpectedHintedFnode'
  | 'ErrFnodeNotTracked'
  | 'ErrLinkExists'
  | 'ErrNoSuchLink'
  | 'ErrNotHintedAuthor'
  | 'ErrPropertyExists'
  | 'ErrWrongSeqNo';

/** Gazette's error strings; every FSMError message starts with the one of its code. */
export const FSM_ERROR_TEXT: Readonly<Record<FSMErrorCode, string>> = {
  ErrChecksumMismatch: 'checksum mismatch',
  ErrExpectedHintedFnode: 'op is not create, and an Fnode was hinted',
  ErrFnodeNotTracked: 'fnode not tracked',
  ErrLinkExists: 'link exists',
  ErrNoSuchLink: 'fnode has no such link',
  ErrNotHintedAuthor: 'op author does not match the next hinted author',
  ErrPropertyExists: 'property exists',
  ErrWrongSeqNo: 'wrong sequence number',
};

/**
 * An op the FSM refused (or, for ErrFnodeNotTracked, sequenced without tracking). `seqNo` is
 * the op's; callers (Player, Recorder) add the log and offset they know.
 */
export abstract class FSMError extends RecoveryLogError {
  declare readonly code: FSMErrorCode;
  readonly seqNo: number;
  constructor(seqNo: number, detail: string) {
    // Gazette's text for this error, found by the code the class gives it.
    super(`${FSM_ERROR_TEXT[codeOfClass(new.target) as FSMErrorCode]} (${detail})`);
    this.seqNo = seqNo;
  }
}

export class ErrWrongSeqNo extends FSMError {
  readonly expected: number;
  constructor(expected: number, got: number) {
    super(got, `expected SeqNo ${expected}, got ${got}`);
    this.expected = expected;
  }
}

export class ErrChecksumMismatch extends FSMError {
  readonly expected: number;
  readonly got: number;
  constructor(seqNo: number, expected: number, got: number) {
    super(
      seqNo,
      `SeqNo ${seqNo}: expected checksum ${hex32(expected)}, got ${hex32(got)}; the op does not ` +
        `continue the history applied so far`,
    );
    this.expected = expected;
    this.got = got;
  }
}

export class ErrNotHintedAuthor extends FSMError {
  readonly expected: Author;
  readonly got: Author;
  constructor(seqNo: number, expected: Author, got: Author) {
    super(seqNo, `SeqNo ${seqNo}: hints expect author ${expected}, got ${got}`);
    this.expected = expected;
    this.got = got;
  }
}

export class ErrExpectedHintedFnode extends FSMError {
  constructor(seqNo: number) {
    super(seqNo, `hints expect fnode ${seqNo} to be created at SeqNo ${seqNo}`);
  }
}

/**
 * The op was sequenced (SeqNo and checksum advanced) but concerns a file that is not tracked
 * (dead by the time the hints were built, or never created): skip its local effects.
 */
export class ErrFnodeNotTracked extends FSMError {
  readonly fnode: Fnode;
  constructor(seqNo: number, fnode: Fnode) {
    super(seqNo, `SeqNo ${seqNo}: fnode ${fnode} is not live`);
    this.fnode = fnode;
  }
}

export class ErrLinkExists extends FSMError {
  readonly path: string;
  constructor(seqNo: number, path: string, fnode: Fnode) {
    super(seqNo, `SeqNo ${seqNo}: ${JSON.stringify(path)} is already a link of fnode ${fnode}`);
    this.path = path;
  }
}

export class ErrPropertyExists extends FSMError {
  readonly path: string;
  constructor(seqNo: number, path: string) {
    super(seqNo, `SeqNo ${seqNo}: ${JSON.stringify(path)} is a property`);
    this.path = path;
  }
}

export class ErrNoSuchLink extends FSMError {
  readonly path: string;
  readonly fnode: Fnode;
  constructor(seqNo: number, fnode: Fnode, path: string) {
    super(seqNo, `SeqNo ${seqNo}: fnode ${fnode} has no link ${JSON.stringify(path)}`);
    this.path = path;
    this.fnode = fnode;
  }
}
