import { AbortedError, InvalidArgumentError, RecoveryLogError } from './errors.js';

/**
 * Errors of the Recorder and of RecordedFs. A Recorder that throws one of the "inconsistency"
 * errors (everything except NotSupportedError, UntrackedFileError, PropertyNotUtf8Error and
 * RecorderAbortedError, which RecordedFs raises before touching anything) enters its failed
 * state: it has been told about a file system it cannot reproduce, so it refuses to record more.
 */

/** The Recorder's directory is not an absolute, clean POSIX path. */
export function invalidRecorderDir(dir: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'RecorderDir',
    `recorder directory ${JSON.stringify(dir)} must be an absolute, clean POSIX path ` +
      `(no "//", ".", ".." or trailing "/"), e.g. "/var/lib/app/db"`,
  );
}

/** A path handed to the Recorder is not a file path strictly below its directory. */
export function pathOutsideDir(path: string, dir: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'PathOutsideDir',
    `path ${JSON.stringify(path)} is not a file below the recorded directory ` +
      `${JSON.stringify(dir)}; only files under that directory can be recorded (pass absolute ` +
      `paths such as ${JSON.stringify(dir === '/' ? '/file' : dir + '/file')})`,
  );
}

/** A property path (e.g. /IDENTITY) was used in a way properties cannot be recorded. */
export function propertyPathMisuse(path: string, what: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'PropertyPathMisuse',
    `cannot ${what} ${JSON.stringify(path)}: it is a property path, which can only be ` +
      `created or replaced by renaming a complete file onto it`,
  );
}

/** The operation names a path the Recorder does not know (it never saw it created). */
export class UnknownPathError extends RecoveryLogError {
  readonly path: string;
  constructor(path: string, what: string, log: string) {
    super(
      `cannot record ${what} of ${JSON.stringify(path)}: the recorder of log ${JSON.stringify(log)} ` +
        `has no file at that path (it was never recorded as created); the recording no longer ` +
        `matches the directory: rebuild the directory from the log and start a new recorder`,
    );
    this.path = path;
  }
}

/** The operation would create a path the Recorder already has a file at. */
export class PathExistsError extends RecoveryLogError {
  readonly path: string;
  constructor(path: string, what: string, log: string) {
    super(
      `cannot record ${what} of ${JSON.stringify(path)}: the recorder of log ${JSON.stringify(log)} ` +
        `already has a file at that path; the recording no longer matches the directory`,
    );
    this.path = path;
  }
}

/** A write names an fnode that is not a live file of the Recorder. */
export class UnknownFnodeError extends RecoveryLogError {
  readonly fnode: number;
  constructor(fnode: number, log: string, what = 'a write to') {
    super(
      `cannot record ${what} fnode ${fnode}: it is not a live file of the recorder of log ` +
        `${JSON.stringify(log)} (never created, or every link to it was removed)`,
    );
    this.fnode = fnode;
  }
}

/** A write's offset is not a non-negative safe integer, or the write would end beyond one. */
export function invalidWrite(detail: string): InvalidArgumentError {
  return new InvalidArgumentError('WriteRange', `cannot record write: ${detail}`);
}

/** A rename onto a property path was recorded without the renamed file's content. */
export function missingPropertyContent(path: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'PropertyContentMissing',
    `renaming onto property path ${JSON.stringify(path)} records the file's content: read the ` +
      `source file and pass its content (a string) to recordRename`,
  );
}

/** The FSM refused an op the Recorder sequenced: the Recorder and its FSM disagree. */
export class FsmRejectedOpError extends RecoveryLogError {
  constructor(op: string, log: string, cause: unknown) {
    super(
      `the FSM rejected recorded op ${op} for log ${JSON.stringify(log)}: ` +
        `${cause instanceof Error ? cause.message : String(cause)}; the recorder stopped ` +
        `(was it given an FSM that still has unplayed hints, or one shared with another writer?)`,
      { cause },
    );
  }
}

/**
 * The journal acknowledged an append that begins before the end of an append it acknowledged
 * earlier: acknowledged bytes went missing.
 */
export class WriteHeadRegressionError extends RecoveryLogError {
  constructor(log: string, writeHead: number, begin: number, end: number) {
    super(
      `journal ${JSON.stringify(log)} committed an append at [${begin}, ${end}) although it had ` +
        `already acknowledged bytes up to offset ${writeHead}: acknowledged data was lost ` +
        `(storage rolled back?); stop and recover from the log`,
    );
  }
}

/** A wait (barrier, hints) was cancelled through an AbortSignal. Recorded ops stay recorded. */
export class RecorderAbortedError extends AbortedError {
  constructor(what: string, reason: unknown) {
    // An AbortedError like the journal's: callers catch `instanceof AbortedError` whatever aborted.
    super(`${what} was aborted; operations recorded so far are still being appended`, {
      cause: reason,
    });
  }
}

/**
 * The file-system call cannot be expressed in a recovery log (or is not implemented by
 * RecordedFs). Thrown before the underlying file system is touched.
 */
export class NotSupportedError extends RecoveryLogError {
  readonly operation: string;
  constructor(operation: string, detail: string) {
    super(`${operation} is not supported on a recorded directory: ${detail}; nothing was changed`);
    this.operation = operation;
  }
}

/**
 * The file exists in the directory but was never recorded, so its content cannot be reproduced
 * by playback. Raised by RecordedFs before anything is recorded (the recorder stays usable).
 */
export class UntrackedFileError extends RecoveryLogError {
  readonly path: string;
  constructor(path: string, what: string) {
    super(
      `cannot ${what} ${JSON.stringify(path)}: the file exists but was never recorded (created ` +
        `outside RecordedFs?); recreate it through RecordedFs (e.g. writeFile) first`,
    );
    this.path = path;
  }
}

/** A file renamed onto a property path is not valid UTF-8, so a proto string cannot hold it. */
export class PropertyNotUtf8Error extends RecoveryLogError {
  readonly path: string;
  constructor(source: string, target: string) {
    super(
      `cannot rename ${JSON.stringify(source)} onto property path ${JSON.stringify(target)}: its ` +
        `content is not valid UTF-8 and would be altered by recording it as a property; nothing ` +
        `was renamed`,
    );
    this.path = target;
  }
}

/** The FSM handed to the Recorder has not finished playing back its hints. */
export class UnfinishedPlaybackError extends RecoveryLogError {
  constructor(log: string) {
    super(
      `cannot record into ${JSON.stringify(log)}: the FSM still has hinted segments or files ` +
        `that playback has not reached; finish playback (to the write head) before recording`,
    );
  }
}

/** A configured property path is not a clean relative path with a leading '/'. */
export function invalidPropertyPath(path: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'PropertyPath',
    `property path ${JSON.stringify(path)} must be a clean path relative to the recorded ` +
      `directory, with a leading '/', e.g. "/IDENTITY"`,
  );
}

/**
 * The FSM handed to Recorder.open has not applied exactly what the journal holds: recording
 * would fork the log's history (both writers acknowledged, one of them lost to playback).
 * Thrown before anything is appended.
 */
export class FsmJournalMismatchError extends RecoveryLogError {
  readonly log: string;
  /** The journal's write head when the Recorder opened. */
  readonly head: number;
  /** The offset the FSM was played through, when known (see Player.play). */
  readonly playedThrough: number | undefined;
  constructor(log: string, head: number, playedThrough: number | undefined, detail: string) {
    super(
      `cannot record into ${JSON.stringify(log)}: ${detail}; recording would fork the log and ` +
        `playback would drop one writer's ops. Play the log to its write head (a Player with ` +
        `injectHandoff(author)) and open the Recorder with that result's FSM; a new FSM can only ` +
        `start an empty journal`,
    );
    this.log = log;
    this.head = head;
    this.playedThrough = playedThrough;
  }
}

/** A re-record policy (RecordedFs option `rerecord`) or request with an unusable value. */
export function invalidRerecordPolicy(detail: string): InvalidArgumentError {
  return new InvalidArgumentError('RerecordPolicy', `invalid re-record policy: ${detail}`);
}
