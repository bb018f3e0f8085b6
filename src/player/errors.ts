import { AbortedError, errorMessage, InvalidArgumentError, RecoveryLogError } from '../errors.js';
import { hex32 } from '../format.js';
import type { Fnode } from '../wire/types.js';

/**
 * Corruption only in strict mode: a Gazette-written log may legitimately hold it after raced
 * writers, and `lenient` playback skips it.
 */
export const LENIENT_SKIPPABLE_KINDS = [
  'garbage',
  'seqno-gap',
  'checksum-mismatch',
  'expected-hinted-fnode',
  'link-exists',
  'no-such-link',
  'property-exists',
] as const;

export type LenientSkippableKind = (typeof LENIENT_SKIPPABLE_KINDS)[number];

/**
 * What is wrong with the log at the reported offset: a lenient-skippable kind, or one fatal in
 * both modes (the byte stream itself cannot be followed).
 */
export type CorruptionKind =
  | LenientSkippableKind
  | 'undecodable-frame'
  | 'invalid-op'
  | 'truncated-frame'
  | 'oversized-frame'
  | 'truncated-payload';

const LENIENT_SKIPPABLE: ReadonlySet<CorruptionKind> = new Set(LENIENT_SKIPPABLE_KINDS);

/**
 * The log holds something a log written through our fenced journals never holds (or something no
 * reader can follow at all). Names the log and the byte offset, and says what to do.
 */
export class CorruptLogError extends RecoveryLogError {
  readonly log: string;
  readonly offset: number;
  readonly kind: CorruptionKind;
  constructor(
    kind: CorruptionKind,
    log: string,
    offset: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    const advice = LENIENT_SKIPPABLE.has(kind)
      ? 'A log written by this library never holds this, so playback stops rather than risk ' +
        'recovering wrong files. If the log was imported from Gazette (whose raced writers can ' +
        'leave such data), play it with `lenient: true` (CLI `--lenient`); otherwise restore the ' +
        'log from a replica or backup.'
      : 'No reader can follow the log past this point. Restore the log from a replica or backup, ' +
        'or recover from hints that end before this offset.';
    super(`corrupt recovery log ${log} at offset ${offset}: ${detail}. ${advice}`, options);
    this.log = log;
    this.offset = offset;
    this.kind = kind;
  }
}

/** A Write's payload does not match its recorded CRC-32C. Its bytes were not written anywhere. */
export class CorruptPayloadError extends RecoveryLogError {
  readonly log: string;
  readonly offset: number;
  readonly fnode: Fnode;
  readonly expected: number;
  readonly actual: number;
  constructor(
    log: string,
    offset: number,
    fnode: Fnode,
    length: number,
    expected: number,
    actual: number,
  ) {
    super(
      `corrupt recovery log ${log}: the ${length}-byte payload of the Write op at offset ` +
        `${offset} (fnode ${fnode}) has CRC-32C ${hex32(actual)} but the op records ` +
        `${hex32(expected)}; none of its bytes were written. The log is damaged at this offset: ` +
        'restore it from a replica or backup (lenient mode does not skip this).',
    );
    this.log = log;
    this.offset = offset;
    this.fnode = fnode;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * The hints name log content that is not there (it was lost, or the hints belong to another log).
 * The message keeps Gazette's wording, which operators may grep for.
 */
export class PossibleDataLossError extends RecoveryLogError {
  readonly log: string;
  constructor(log: string, message: string) {
    super(
      `${message}. The hints require log content that is missing; check that the hints belong ` +
        'to this log and that it was not truncated, or recover from older (backup) hints.',
    );
    this.log = log;
  }
}

/** play() stopped because its AbortSignal fired. The target directory has been removed. */
export class PlaybackAbortedError extends AbortedError {
  constructor(dir: string, cause: unknown) {
    super(
      `playback into ${dir} was aborted (the directory was removed); call play() on a new ` +
        'Player to start again',
      { cause },
    );
  }
}

/** finishAtWriteHead() / injectHandoff() may be requested only once per Player. */
export function handoffAlreadyRequested(previous: string, attempted: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'HandoffAlreadyRequested',
    `cannot ${attempted}: this Player was already asked to ${previous}; only one ` +
      'finishAtWriteHead() or injectHandoff() call is allowed per Player',
  );
}

/** A Player plays once; make a new one for another playback. */
export function playerReused(): InvalidArgumentError {
  return new InvalidArgumentError(
    'PlayerReused',
    'this Player has already played; create a new Player for each play()',
  );
}

/** A path from the log would land outside the target directory or on the staging directory. */
export class UnsafePathError extends RecoveryLogError {
  readonly path: string;
  constructor(path: string, dir: string, why: string) {
    super(
      `refusing to materialise ${JSON.stringify(path)} under ${dir}: ${why}; the log or hints ` +
        'are corrupt or were not written for a directory',
    );
    this.path = path;
  }
}

/** A local file-system call failed while re-enacting the log (the cause has the OS error). */
export class LocalFsError extends RecoveryLogError {
  readonly path: string;
  constructor(action: string, path: string, cause: unknown) {
    super(
      `${action} ${path} failed during playback: ${errorMessage(cause)}; check the target ` +
        'directory (permissions, free space, other writers) and play again',
      { cause },
    );
    this.path = path;
  }
}

/** Something the player's own invariants rule out happened: a bug, not bad input. */
export class PlayerInvariantError extends RecoveryLogError {
  constructor(message: string) {
    super(`player invariant violated: ${message} (please report this bug)`);
  }
}
