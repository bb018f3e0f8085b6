/**
 * Base class of every error this library throws on purpose. `code` is stable and meant for
 * programs (switch on it); `message` is meant for people and says what to do.
 *
 * The code is the class name minus its `Error` suffix (`JournalLockedError` -> `JournalLocked`;
 * the FSM's errors keep Gazette's names, `ErrWrongSeqNo`), taken from the class actually
 * constructed, so a new class cannot get it wrong and no two classes share one. README.md's
 * "Errors" table lists every code; test/core/errors.test.ts holds the two to each other.
 */
export class RecoveryLogError extends Error {
  readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = codeOfClass(new.target);
  }
}

/** The `code` every instance of an error class gets: its name minus a trailing `Error`. */
export function codeOfClass(
  errorClass: abstract new (...args: never[]) => RecoveryLogError,
): string {
  return errorClass.name.replace(/Error$/, '');
}

/**
 * Family of the errors of an operation cancelled through its AbortSignal (`cause` is the signal's
 * reason). Never thrown itself: catch `instanceof AbortedError` for "cancelled, whatever it was";
 * each subclass has its own code and says what state the cancelled operation left behind.
 */
export abstract class AbortedError extends RecoveryLogError {}

/**
 * Why an InvalidArgumentError refused a call: what was wrong with which argument. One row each in
 * README.md's "InvalidArgument reasons" table. These are programming errors (fix the call), so
 * they share one class; errors a program may want to handle at run time have classes of their own.
 */
export const INVALID_ARGUMENT_REASONS = {
  ReadOffset: 'a journal read offset that is not an integer in [0, 2^53)',
  AppendInput:
    'append data that is not bytes, malformed registers, or an append past offset 2^53 - 1',
  Author: 'an Author (of a Recorder or hand-off) that is not an integer in [1, 2^32)',
  RecorderDir: 'a Recorder directory that is not an absolute, clean POSIX path',
  PathOutsideDir: 'a path given to the Recorder or RecordedFs that is not below its directory',
  PropertyPathMisuse: 'a property path used other than by renaming a complete file onto it',
  PropertyPath: 'a configured property path that is not clean and relative with a leading /',
  PropertyContentMissing: "a rename onto a property path recorded without the file's content",
  WriteRange: 'a write whose offset or end is not a non-negative safe integer',
  RerecordPolicy: 'a re-record policy or request with an unusable value',
  HandoffAlreadyRequested: 'a second finishAtWriteHead() or injectHandoff() on one Player',
  PlayerReused: 'a second play() on one Player',
  SegmentRange: 'SegmentSet.intersect with a reversed range or a log not in the set',
  Uint32Field: 'a fixed32 field (author, checksum) that is not an integer in [0, 2^32)',
  StringField: 'a string field that is not a string or holds a lone UTF-16 surrogate',
  FrameDecoderUsage:
    'a FrameDecoder used against its contract (bad window or offset, push after end)',
} as const;

export type InvalidArgumentReason = keyof typeof INVALID_ARGUMENT_REASONS;

/**
 * A call was given an argument it can never accept (a bad option value, a path outside the
 * recorded directory, a negative offset, ...). Nothing was changed. `reason` tells which rule was
 * broken (see INVALID_ARGUMENT_REASONS); the message names the value and what would be accepted.
 */
export class InvalidArgumentError extends RecoveryLogError {
  readonly reason: InvalidArgumentReason;
  constructor(reason: InvalidArgumentReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** The message of a caught value, for wrapping it in a message of ours (it may not be an Error). */
export function errorMessage(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** The `code` of a caught value (an fs error's errno name, e.g. "ENOENT"), if it has one. */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}
