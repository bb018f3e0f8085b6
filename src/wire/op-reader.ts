/**
 * The protobuf reader under the RecordedOp decoder: keys, lengths, varints, fixed32s and strings
 * over one op's bytes, bounded by the end of the (sub-)message being read, and the skipping of
 * unknown fields. Every failure is a typed error (ProtoDecodeError) naming where it happened.
 */
import { decodeByteString, hasEscapedBytes } from './byte-string.js';
import { ProtoDecodeError } from './errors.js';
import {
  END_GROUP,
  FIXED32,
  FIXED64,
  LENGTH_DELIMITED,
  START_GROUP,
  TWO_32,
  VARINT,
  type FieldTable,
} from './op-schema.js';

/** Read position over one op's bytes, plus exact text of int64 values too large for a number. */
export class OpReader {
  pos = 0;
  /** Exact decimal text of the last out-of-range value read for each int64 field. */
  unsafe: Map<string, string> | undefined;

  constructor(
    readonly bytes: Uint8Array,
    readonly byteStrings: boolean,
  ) {}

  /** A ProtoDecodeError for running out of bytes; the cause records the bounds. */
  truncated(where: string, what: string, end: number): ProtoDecodeError {
    const detail = `${what} at byte ${this.pos} runs past the end of the message (byte ${end})`;
    return new ProtoDecodeError(where, `truncated input: ${detail}`, {
      cause: new RangeError(detail),
    });
  }

  /**
   * Reads a key or a length: a varint of at most 5 bytes whose 5th byte carries at most
   * `topBits` (tags fit in 32 bits, lengths in 31). Longer encodings are refused, as before.
   */
  uint32(end: number, where: string, what: string, topMask: number): number {
    const bytes = this.bytes;
    let value = 0;
    for (let shift = 0, i = this.pos; ; shift += 7, i++) {
      if (i >= end) throw this.truncated(where, what, end);
      const b = bytes[i]!;
      if (shift === 28) {
        if (b & ~topMask) {
          throw new ProtoDecodeError(where, `invalid ${what} encoding at byte ${this.pos}`);
        }
        this.pos = i + 1;
        return (value | (b << 28)) >>> 0;
      }
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = i + 1;
        return value >>> 0;
      }
    }
  }

  key(end: number, where: string): number {
    const b = this.bytes[this.pos]!;
    if (b < 0x80) {
      this.pos++;
      return b;
    }
    return this.uint32(end, where, 'tag', 0x0f);
  }

  /** Reads a length prefix and returns the end of the field it announces. */
  fieldEnd(end: number, where: string, name: string): number {
    const start = this.pos;
    let length = this.bytes[start]!;
    if (length < 0x80 && start < end) this.pos = start + 1;
    else length = this.uint32(end, where, `length of ${name}`, 0x07);
    const fieldEnd = this.pos + length;
    if (fieldEnd > end) {
      this.pos = start;
      throw this.truncated(where, `${name} (${length} bytes)`, end);
    }
    return fieldEnd;
  }

  /**
   * Reads an int64 varint (up to 10 bytes; bits past 64 ignored, as Go does). Values outside the
   * safe-integer range decode to NaN and their exact text is kept, so that a later occurrence of
   * the field can still replace them (last one wins) before `checkInt64` judges the final value.
   */
  int64(end: number, where: string, name: string): number {
    const bytes = this.bytes;
    let i = this.pos;
    if (i < end && bytes[i]! < 0x80) {
      this.pos = i + 1;
      return bytes[i]!;
    }
    let lo = 0;
    let hi = 0;
    let b = 0x80;
    for (let shift = 0; shift < 28; shift += 7) {
      if (i >= end) throw this.truncated(where, `varint ${name}`, end);
      b = bytes[i++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = i;
        return lo >>> 0;
      }
    }
    if (i >= end) throw this.truncated(where, `varint ${name}`, end);
    b = bytes[i++]!;
    lo = (lo | ((b & 0x7f) << 28)) >>> 0;
    hi = (b & 0x7f) >> 4;
    for (let shift = 3; b >= 0x80; shift += 7) {
      if (shift > 31) {
        this.pos = i;
        throw new ProtoDecodeError(where, `varint ${name} is longer than 10 bytes`);
      }
      if (i >= end) throw this.truncated(where, `varint ${name}`, end);
      b = bytes[i++]!;
      hi |= (b & 0x7f) << shift;
    }
    this.pos = i;
    hi >>>= 0;
    if (hi < 0x200000) return hi * TWO_32 + lo; // below 2^53
    if (hi >= 0xffe00000) {
      // Negative: magnitude = 2^64 - value, safe while below 2^53.
      const mlo = (~lo + 1) >>> 0;
      const mhi = (~hi + (mlo === 0 ? 1 : 0)) >>> 0;
      if (mhi < 0x200000) return -(mhi * TWO_32 + mlo);
    }
    const exact = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
    (this.unsafe ??= new Map()).set(`${where}.${name}`, exact.toString());
    return Number.NaN;
  }

  fixed32(end: number, where: string, name: string): number {
    const i = this.pos;
    if (i + 4 > end) throw this.truncated(where, `fixed32 ${name}`, end);
    const bytes = this.bytes;
    this.pos = i + 4;
    return (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) >>> 0;
  }

  string(end: number, where: string, name: string): string {
    const stop = this.fieldEnd(end, where, name);
    const bytes = this.bytes;
    const start = this.pos;
    this.pos = stop;
    // Paths are short and nearly always ASCII: build those directly, leave the rest to the
    // strict decoder.
    if (stop - start <= 64) {
      let text = '';
      let i = start;
      for (; i < stop; i++) {
        const b = bytes[i]!;
        if (b >= 0x80) break;
        text += String.fromCharCode(b);
      }
      if (i === stop) return text;
    }
    const text = decodeByteString(bytes, start, stop);
    // Gazette's strings are bytes: with byteStrings, those that are not UTF-8 are kept exactly
    // (byte-string.ts). Otherwise they are refused: in a log we wrote, invalid UTF-8 is damage
    // (a torn or corrupted frame), and refusing it is what detects that damage.
    if (!this.byteStrings && hasEscapedBytes(text)) {
      throw new ProtoDecodeError(
        where,
        `field ${name} is not valid UTF-8 (a Gazette writer may put any bytes in a name or ` +
          `property: read such a log leniently)`,
      );
    }
    return text;
  }

  /**
   * Handles a key no `case` of the message matched: a known field number with the wrong wire
   * type is an error (Gazette's decoder fails where a lenient one would skip it and read a
   * corrupted seq_no as 0); anything else is an unknown field and skipped.
   */
  other(key: number, end: number, where: string, fields: FieldTable): void {
    const number = key >>> 3;
    const wireType = key & 7;
    const known = fields[number];
    if (known !== undefined) {
      throw new ProtoDecodeError(
        where,
        `field ${known[0]} (tag ${number}) has wire type ${wireType}, expected ${known[1]}`,
      );
    }
    this.skip(number, wireType, end, where);
  }

  /** Skips one unknown field; a group is skipped up to its end tag, nested groups included. */
  skip(number: number, wireType: number, end: number, where: string): void {
    const groups: number[] = [];
    for (;;) {
      if (number === 0) throw new ProtoDecodeError(where, `illegal tag 0 at byte ${this.pos}`);
      switch (wireType) {
        case VARINT: {
          const bytes = this.bytes;
          let i = this.pos;
          for (let n = 0; ; n++) {
            if (n === 10) throw new ProtoDecodeError(where, `varint longer than 10 bytes`);
            if (i >= end) throw this.truncated(where, `varint of field ${number}`, end);
            if (bytes[i++]! < 0x80) break;
          }
          this.pos = i;
          break;
        }
        case FIXED64:
          if (this.pos + 8 > end) throw this.truncated(where, `fixed64 field ${number}`, end);
          this.pos += 8;
          break;
        case LENGTH_DELIMITED:
          this.pos = this.fieldEnd(end, where, `field ${number}`);
          break;
        case START_GROUP:
          groups.push(number);
          break;
        case END_GROUP:
          if (groups.length === 0 || groups.pop() !== number) {
            throw new ProtoDecodeError(where, `unmatched end-group tag ${number}`);
          }
          break;
        case FIXED32:
          if (this.pos + 4 > end) throw this.truncated(where, `fixed32 field ${number}`, end);
          this.pos += 4;
          break;
        default:
          throw new ProtoDecodeError(where, `invalid wire type ${wireType} (field ${number})`);
      }
      if (groups.length === 0) return;
      if (this.pos >= end) throw this.truncated(where, `group ${groups.at(-1)}`, end);
      const key = this.key(end, where);
      number = key >>> 3;
      wireType = key & 7;
    }
  }
}

export /**
 * Reads a uint32 varint field as Go does: up to 10 bytes, the value truncated to its low 32 bits.
 */
function uint32Varint(r: OpReader, end: number, where: string, name: string): number {
  const bytes = r.bytes;
  let value = 0;
  for (let shift = 0, n = 0; ; shift += 7, n++) {
    if (n === 10) throw new ProtoDecodeError(where, `varint ${name} is longer than 10 bytes`);
    if (r.pos >= end) throw r.truncated(where, `varint ${name}`, end);
    const b = bytes[r.pos++]!;
    if (shift < 32) value |= (b & 0x7f) << shift;
    if (b < 0x80) return value >>> 0;
  }
}
