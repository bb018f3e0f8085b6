/** The errors of FSMHints: bytes that do not decode, and hints that describe no linear history. */
import { RecoveryLogError } from './errors.js';

/** Hints are structurally valid but describe an impossible or inconsistent history. */
export class HintsValidationError extends RecoveryLogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Stored hints bytes are not valid JSON or protobuf hints. */
export class HintsDecodeError extends RecoveryLogError {
  /** Which form was being decoded. */
  readonly format: HintsFormat;
  /** Path of the offending JSON field (e.g. `live_nodes[0].segments[1].author`), if known. */
  readonly field: string | undefined;
  constructor(format: HintsFormat, detail: string, options?: { cause?: unknown; field?: string }) {
    super(
      `cannot decode ${format} FSMHints: ${detail}; the stored hints are corrupt or were not ` +
        `written by a recoverylog writer: restore them from the backup hints, or play the log ` +
        `without hints (from offset 0)`,
      options,
    );
    this.format = format;
    this.field = options?.field;
  }
}

export type HintsFormat = 'json' | 'protobuf';
