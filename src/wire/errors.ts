import { InvalidArgumentError, RecoveryLogError } from '../errors.js';

/**
 * Bytes that should hold a protobuf message (a RecordedOp or FSMHints) could not be decoded:
 * truncated input, an invalid varint, a known field carrying the wrong wire type, invalid UTF-8 in
 * a string. The underlying parser's error, if any, is the `cause`.
 */
export class ProtoDecodeError extends RecoveryLogError {
  readonly messageType: string;
  constructor(messageType: string, detail: string, options?: { cause?: unknown }) {
    super(
      `cannot decode ${messageType}: ${detail}; the bytes are not a valid ${messageType} ` +
        `(corrupt or foreign data)`,
      options,
    );
    this.messageType = messageType;
  }
}

/**
 * An int64 field holds a value that a JS number cannot represent exactly (beyond
 * ±Number.MAX_SAFE_INTEGER, or not an integer). We refuse it instead of silently rounding.
 */
export class Int64RangeError extends RecoveryLogError {
  /** Dotted field name, e.g. `RecordedOp.write.length`. */
  readonly field: string;
  /** The offending value, as exact decimal text. */
  readonly value: string;
  constructor(field: string, value: string, direction: 'encode' | 'decode') {
    super(
      direction === 'decode'
        ? `${field} = ${value} is outside the safe integer range ±${Number.MAX_SAFE_INTEGER}; ` +
            `it cannot be represented exactly, so the data is refused (corrupt or foreign log?)`
        : `cannot encode ${field} = ${value}: int64 fields must be integers within ` +
            `±${Number.MAX_SAFE_INTEGER}; pass an exact integer`,
    );
    this.field = field;
    this.value = value;
  }
}

/** A fixed32 field (author, checksum, CRC) was given a value that is not an integer in [0, 2^32). */
export function uint32OutOfRange(field: string, value: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'Uint32Field',
    `cannot encode ${field} = ${value}: fixed32 fields must be integers in [0, 4294967295]`,
  );
}

/**
 * A string field cannot be encoded: it is not a string, or it holds a lone UTF-16 surrogate, which
 * has no UTF-8 form (encoding it would silently change a recovered path or property).
 */
export function malformedString(field: string, detail: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'StringField',
    `cannot encode ${field}: ${detail}; string fields must be well-formed Unicode strings`,
  );
}

/**
 * The byte stream ended in the middle of a frame header, a frame, or a Write payload. In a
 * journal written by this library that means the log is truncated or corrupt.
 */
export class UnexpectedEOFError extends RecoveryLogError {
  /** Stream offset where the incomplete item starts. */
  readonly offset: number;
  /** Bytes the item needs. */
  readonly expected: number;
  /** Bytes that remained in the stream. */
  readonly present: number;
  constructor(what: string, offset: number, expected: number, present: number) {
    super(
      `unexpected end of stream at offset ${offset}: ${what} needs ${expected} bytes but only ` +
        `${present} remain; the log is truncated or corrupt at this offset`,
    );
    this.offset = offset;
    this.expected = expected;
    this.present = present;
  }
}

/** The FrameDecoder was used against its contract (a programming error, not bad data). */
export function frameDecoderMisuse(message: string): InvalidArgumentError {
  return new InvalidArgumentError('FrameDecoderUsage', message);
}
