import { decodeByteString, hasEscapedBytes } from './byte-string.js';
import { Int64RangeError, malformedString, ProtoDecodeError, uint32OutOfRange } from './errors.js';
import type {
  ChmodOp,
  CreateOp,
  DirectoryOp,
  LinkOp,
  Property,
  RecordedOp,
  TruncateOp,
  WriteOp,
} from './types.js';

/*
 * A hand-written protobuf codec for exactly the RecordedOp schema of proto/recorded_op.proto.
 *
 * Playback decodes one RecordedOp per frame, so this is the hottest parsing path of the library.
 * A generic reflection-based codec costs a JIT warm-up in every fresh process and needed a second
 * structural pass to reject known fields with the wrong wire type; this codec does everything in
 * one pass over the bytes with the schema compiled into `switch` statements on the key byte.
 *
 * Encoding matches Gazette's Go (gogo) encoder byte for byte: ascending tags, zero scalars and
 * empty strings omitted, present sub-messages always emitted (an empty one as `key 00`).
 *
 * Decoding follows Gazette's Unmarshal: fields in any order, last scalar wins, a repeated
 * sub-message merges into the earlier one, unknown fields of every wire type are skipped (groups
 * up to their matching end tag). It is stricter in the same places our previous protobufjs-based
 * decoder was: a known field with the wrong wire type, truncation, field number 0, invalid wire
 * types, over-long tag/length varints (ProtoDecodeError) and int64 values beyond the safe-integer
 * range (Int64RangeError, judged on each field's final value), and invalid UTF-8 unless asked
 * for byte strings (Gazette's Go writes and plays any bytes; byte-string.ts).
 */

// ---------------------------------------------------------------------------------------------
// Encoding

const TWO_32 = 0x1_0000_0000;

/**
 * Scratch buffer the encoder writes into; the result is copied out. Encoding is synchronous and
 * never re-enters itself, so one module-level buffer is safe.
 */
let out = new Uint8Array(512);
let at = 0;

function reserve(bytes: number): void {
  if (at + bytes <= out.length) return;
  let size = out.length * 2;
  while (size < at + bytes) size *= 2;
  const grown = new Uint8Array(size);
  grown.set(out.subarray(0, at));
  out = grown;
}

/** Writes a safe integer as the 64-bit two's-complement varint Go writes for an int64. */
function writeInt64Varint(value: number): void {
  if (value >= 0 && value < 0x80) {
    out[at++] = value;
    return;
  }
  let lo: number;
  let hi: number;
  if (value >= 0) {
    lo = value >>> 0; // ToUint32 is exact modulo 2^32
    hi = (value - lo) / TWO_32;
  } else {
    const magnitude = -value;
    const mlo = magnitude >>> 0;
    const mhi = (magnitude - mlo) / TWO_32;
    lo = (~mlo + 1) >>> 0;
    hi = (~mhi + (lo === 0 ? 1 : 0)) >>> 0;
  }
  while (hi !== 0) {
    out[at++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 0x7f) {
    out[at++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  out[at++] = lo;
}

function putInt64(key: number, value: number | undefined, field: string): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value)) throw new Int64RangeError(field, String(value), 'encode');
  if (value === 0) return;
  reserve(11);
  out[at++] = key;
  writeInt64Varint(value);
}

function putFixed32(key: number, value: number | undefined, field: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw uint32OutOfRange(field, String(value));
  }
  if (value === 0) return;
  reserve(5);
  out[at++] = key;
  out[at++] = value & 0xff;
  out[at++] = (value >>> 8) & 0xff;
  out[at++] = (value >>> 16) & 0xff;
  out[at++] = value >>> 24;
}

/** Starts a length-delimited field; returns where its (provisionally 1-byte) length goes. */
function openLength(key: number): number {
  reserve(2);
  out[at++] = key;
  return at++;
}

/** Extension op keys (tags 101-104, length-delimited): two-byte varint keys. */
const CHMOD_KEY = (101 << 3) | 2;
const TRUNCATE_KEY = (102 << 3) | 2;
const MKDIR_KEY = (103 << 3) | 2;
const RMDIR_KEY = (104 << 3) | 2;

/** As openLength, for a key of two varint bytes (tags 16-2047). */
function openLength2(key: number): number {
  reserve(3);
  out[at++] = (key & 0x7f) | 0x80;
  out[at++] = key >>> 7;
  return at++;
}

function putUint32Varint(key: number, value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw uint32OutOfRange(field, String(value));
  }
  if (value === 0) return;
  reserve(6);
  out[at++] = key;
  writeInt64Varint(value);
}

/**
 * Fills in the length of a field opened at `lengthAt`. The common short field keeps its 1-byte
 * length; a longer one is moved right to make room for the multi-byte varint.
 */
function closeLength(lengthAt: number): void {
  const length = at - lengthAt - 1;
  if (length < 0x80) {
    out[lengthAt] = length;
    return;
  }
  let extra = 1;
  while (length >= 2 ** (7 * (extra + 1))) extra++;
  reserve(extra);
  out.copyWithin(lengthAt + 1 + extra, lengthAt + 1, at);
  at += extra;
  let rest = length;
  let i = lengthAt;
  while (rest > 0x7f) {
    out[i++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[i] = rest;
}

/**
 * Writes a non-empty string field as UTF-8, escaped bytes of a byte string (U+DC80..U+DCFF,
 * byte-string.ts) as themselves, refusing other lone surrogates (they have no UTF-8 form;
 * replacing them would silently change a recovered path).
 */
function putString(key: number, value: string | undefined, field: string): void {
  if (value === undefined) return;
  if (typeof value !== 'string') {
    throw malformedString(field, `expected a string, got ${typeof value}`);
  }
  const length = value.length;
  if (length === 0) return;
  reserve(3 * length + 6); // a UTF-16 unit never needs more than 3 UTF-8 bytes
  const lengthAt = openLength(key);
  for (let i = 0; i < length; i++) {
    let c = value.charCodeAt(i);
    if (c < 0x80) {
      out[at++] = c;
    } else if (c < 0x800) {
      out[at++] = (c >> 6) | 0xc0;
      out[at++] = (c & 0x3f) | 0x80;
    } else if (c < 0xd800 || c > 0xdfff) {
      out[at++] = (c >> 12) | 0xe0;
      out[at++] = ((c >> 6) & 0x3f) | 0x80;
      out[at++] = (c & 0x3f) | 0x80;
    } else if (c >= 0xdc80 && c <= 0xdcff) {
      out[at++] = c - 0xdc00; // an escaped byte of a name that is not UTF-8 (byte-string.ts)
    } else {
      const low = i + 1 < length ? value.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || low < 0xdc00 || low > 0xdfff) {
        throw malformedString(field, `lone UTF-16 surrogate at index ${i}`);
      }
      c = 0x10000 + ((c & 0x3ff) << 10) + (low & 0x3ff);
      i++;
      out[at++] = (c >> 18) | 0xf0;
      out[at++] = ((c >> 12) & 0x3f) | 0x80;
      out[at++] = ((c >> 6) & 0x3f) | 0x80;
      out[at++] = (c & 0x3f) | 0x80;
    }
  }
  closeLength(lengthAt);
}

interface LinkFieldNames {
  fnode: string;
  path: string;
}
const LINK_FIELDS: LinkFieldNames = {
  fnode: 'RecordedOp.link.fnode',
  path: 'RecordedOp.link.path',
};
const UNLINK_FIELDS: LinkFieldNames = {
  fnode: 'RecordedOp.unlink.fnode',
  path: 'RecordedOp.unlink.path',
};

function putLink(key: number, link: LinkOp, names: LinkFieldNames): void {
  const lengthAt = openLength(key);
  putInt64(0x08, link.fnode, names.fnode);
  putString(0x12, link.path, names.path);
  closeLength(lengthAt);
}

function putDirectory(key: number, dir: DirectoryOp, field: string): void {
  const lengthAt = openLength2(key);
  putString(0x0a, dir.path, `${field}.path`);
  putUint32Varint(0x10, dir.mode, `${field}.mode`);
  closeLength(lengthAt);
}

/**
 * Encodes a RecordedOp exactly as Gazette's Go code does: fields in ascending tag order, zero
 * scalars and empty strings omitted, present sub-messages always emitted (an empty one as
 * `key 00`). The meta-fields (first_offset, last_offset, log) are written only when non-zero;
 * writers leave them zero. Our extension ops (tags 101-104) come last, in ascending tag order
 * like everything else. Throws Int64RangeError or InvalidArgumentError (reasons Uint32Field,
 * StringField) for values that cannot be encoded exactly. Missing numeric/string fields count as zero.
 */
export function encodeRecordedOp(op: RecordedOp): Uint8Array {
  at = 0;
  putInt64(0x08, op.seqNo, 'RecordedOp.seq_no');
  putFixed32(0x15, op.checksum, 'RecordedOp.checksum');
  putFixed32(0x1d, op.author, 'RecordedOp.author');
  if (op.create) {
    const lengthAt = openLength(0x22);
    putString(0x0a, op.create.path, 'RecordedOp.create.path');
    closeLength(lengthAt);
  }
  if (op.link) putLink(0x2a, op.link, LINK_FIELDS);
  if (op.unlink) putLink(0x32, op.unlink, UNLINK_FIELDS);
  if (op.write) {
    const write = op.write;
    const lengthAt = openLength(0x3a);
    putInt64(0x08, write.fnode, 'RecordedOp.write.fnode');
    putInt64(0x10, write.offset, 'RecordedOp.write.offset');
    putInt64(0x18, write.length, 'RecordedOp.write.length');
    putFixed32(0x7d, write.payloadCrc32c, 'RecordedOp.write.payload_crc32c');
    closeLength(lengthAt);
  }
  if (op.property) {
    const lengthAt = openLength(0x42);
    putString(0x0a, op.property.path, 'RecordedOp.property.path');
    putString(0x12, op.property.content, 'RecordedOp.property.content');
    closeLength(lengthAt);
  }
  putInt64(0x48, op.firstOffset, 'RecordedOp.first_offset');
  putInt64(0x50, op.lastOffset, 'RecordedOp.last_offset');
  putString(0x5a, op.log, 'RecordedOp.log');
  if (op.chmod) {
    const lengthAt = openLength2(CHMOD_KEY);
    putInt64(0x08, op.chmod.fnode, 'RecordedOp.chmod.fnode');
    putUint32Varint(0x10, op.chmod.mode, 'RecordedOp.chmod.mode');
    closeLength(lengthAt);
  }
  if (op.truncate) {
    const lengthAt = openLength2(TRUNCATE_KEY);
    putInt64(0x08, op.truncate.fnode, 'RecordedOp.truncate.fnode');
    putInt64(0x10, op.truncate.length, 'RecordedOp.truncate.length');
    closeLength(lengthAt);
  }
  if (op.mkdir) putDirectory(MKDIR_KEY, op.mkdir, 'RecordedOp.mkdir');
  if (op.rmdir) putDirectory(RMDIR_KEY, op.rmdir, 'RecordedOp.rmdir');
  return out.slice(0, at);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Wire types (the low 3 bits of a key). */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;

/** proto field name and wire type of each known field number of one message. */
type FieldTable = ReadonlyArray<readonly [name: string, wireType: number] | undefined>;

const RECORDED_OP_FIELDS: FieldTable = [
  undefined,
  ['seq_no', VARINT],
  ['checksum', FIXED32],
  ['author', FIXED32],
  ['create', LENGTH_DELIMITED],
  ['link', LENGTH_DELIMITED],
  ['unlink', LENGTH_DELIMITED],
  ['write', LENGTH_DELIMITED],
  ['property', LENGTH_DELIMITED],
  ['first_offset', VARINT],
  ['last_offset', VARINT],
  ['log', LENGTH_DELIMITED],
];
(RECORDED_OP_FIELDS as Array<readonly [string, number] | undefined>)[101] = [
  'chmod',
  LENGTH_DELIMITED,
];
(RECORDED_OP_FIELDS as Array<readonly [string, number] | undefined>)[102] = [
  'truncate',
  LENGTH_DELIMITED,
];
(RECORDED_OP_FIELDS as Array<readonly [string, number] | undefined>)[103] = [
  'mkdir',
  LENGTH_DELIMITED,
];
(RECORDED_OP_FIELDS as Array<readonly [string, number] | undefined>)[104] = [
  'rmdir',
  LENGTH_DELIMITED,
];
/** Fields of Chmod (fnode, mode) and of Truncate (fnode, length): two varints. */
const FNODE_VARINT_FIELDS: FieldTable = [undefined, ['fnode', VARINT], ['value', VARINT]];
const DIRECTORY_FIELDS: FieldTable = [undefined, ['path', LENGTH_DELIMITED], ['mode', VARINT]];
const CREATE_FIELDS: FieldTable = [undefined, ['path', LENGTH_DELIMITED]];
const LINK_FIELD_TABLE: FieldTable = [undefined, ['fnode', VARINT], ['path', LENGTH_DELIMITED]];
const WRITE_FIELDS: FieldTable = (() => {
  const table: Array<readonly [string, number] | undefined> = [
    undefined,
    ['fnode', VARINT],
    ['offset', VARINT],
    ['length', VARINT],
  ];
  table[15] = ['payload_crc32c', FIXED32];
  return table;
})();
const PROPERTY_FIELDS: FieldTable = [
  undefined,
  ['path', LENGTH_DELIMITED],
  ['content', LENGTH_DELIMITED],
];

/** Read position over one op's bytes, plus exact text of int64 values too large for a number. */
class OpReader {
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

function decodeCreate(r: OpReader, end: number, into: CreateOp): CreateOp {
  while (r.pos < end) {
    const key = r.key(end, 'RecordedOp.create');
    if (key === 0x0a) into.path = r.string(end, 'RecordedOp.create', 'path');
    else r.other(key, end, 'RecordedOp.create', CREATE_FIELDS);
  }
  return into;
}

function decodeLink(r: OpReader, end: number, into: LinkOp, where: string): LinkOp {
  while (r.pos < end) {
    const key = r.key(end, where);
    if (key === 0x08) into.fnode = r.int64(end, where, 'fnode');
    else if (key === 0x12) into.path = r.string(end, where, 'path');
    else r.other(key, end, where, LINK_FIELD_TABLE);
  }
  return into;
}

/** A Write being decoded: payloadCrc32c is always present here and dropped at the end when 0. */
type WriteDraft = Required<WriteOp>;

function decodeWrite(r: OpReader, end: number, into: WriteDraft): WriteDraft {
  const where = 'RecordedOp.write';
  while (r.pos < end) {
    const key = r.key(end, where);
    switch (key) {
      case 0x08:
        into.fnode = r.int64(end, where, 'fnode');
        break;
      case 0x10:
        into.offset = r.int64(end, where, 'offset');
        break;
      case 0x18:
        into.length = r.int64(end, where, 'length');
        break;
      case 0x7d:
        into.payloadCrc32c = r.fixed32(end, where, 'payload_crc32c');
        break;
      default:
        r.other(key, end, where, WRITE_FIELDS);
    }
  }
  return into;
}

function decodeProperty(r: OpReader, end: number, into: Property): Property {
  const where = 'RecordedOp.property';
  while (r.pos < end) {
    const key = r.key(end, where);
    if (key === 0x0a) into.path = r.string(end, where, 'path');
    else if (key === 0x12) into.content = r.string(end, where, 'content');
    else r.other(key, end, where, PROPERTY_FIELDS);
  }
  return into;
}

/**
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

function decodeChmod(r: OpReader, end: number, into: ChmodOp): ChmodOp {
  const where = 'RecordedOp.chmod';
  while (r.pos < end) {
    const key = r.key(end, where);
    if (key === 0x08) into.fnode = r.int64(end, where, 'fnode');
    else if (key === 0x10) into.mode = uint32Varint(r, end, where, 'mode');
    else r.other(key, end, where, FNODE_VARINT_FIELDS);
  }
  return into;
}

function decodeTruncate(r: OpReader, end: number, into: TruncateOp): TruncateOp {
  const where = 'RecordedOp.truncate';
  while (r.pos < end) {
    const key = r.key(end, where);
    if (key === 0x08) into.fnode = r.int64(end, where, 'fnode');
    else if (key === 0x10) into.length = r.int64(end, where, 'length');
    else r.other(key, end, where, FNODE_VARINT_FIELDS);
  }
  return into;
}

function decodeDirectory(r: OpReader, end: number, into: DirectoryOp, where: string): DirectoryOp {
  while (r.pos < end) {
    const key = r.key(end, where);
    if (key === 0x0a) into.path = r.string(end, where, 'path');
    else if (key === 0x10) into.mode = uint32Varint(r, end, where, 'mode');
    else r.other(key, end, where, DIRECTORY_FIELDS);
  }
  return into;
}

/**
 * Decodes a RecordedOp's protobuf bytes (a frame's payload) into a plain object. Absent
 * sub-messages are undefined, present ones (even empty) are objects; meta-fields default to
 * 0 / ''; write.payloadCrc32c is undefined when absent. Throws ProtoDecodeError for undecodable
 * bytes and Int64RangeError for int64 values beyond the safe-integer range. Strings that are
 * not UTF-8 are a ProtoDecodeError unless `byteStrings` (Gazette logs, read leniently): then they
 * decode to byte strings, which encode back to the same bytes.
 */
export function decodeRecordedOp(
  bytes: Uint8Array,
  options: { byteStrings?: boolean } = {},
): RecordedOp {
  const r = new OpReader(bytes, options.byteStrings === true);
  const end = bytes.length;
  const where = 'RecordedOp';
  let seqNo = 0;
  let checksum = 0;
  let author = 0;
  let firstOffset = 0;
  let lastOffset = 0;
  let log = '';
  let create: CreateOp | undefined;
  let link: LinkOp | undefined;
  let unlink: LinkOp | undefined;
  let write: WriteDraft | undefined;
  let property: Property | undefined;
  let chmod: ChmodOp | undefined;
  let truncate: TruncateOp | undefined;
  let mkdir: DirectoryOp | undefined;
  let rmdir: DirectoryOp | undefined;
  while (r.pos < end) {
    const key = r.key(end, where);
    switch (key) {
      case 0x08:
        seqNo = r.int64(end, where, 'seq_no');
        break;
      case 0x15:
        checksum = r.fixed32(end, where, 'checksum');
        break;
      case 0x1d:
        author = r.fixed32(end, where, 'author');
        break;
      case 0x22:
        create = decodeCreate(r, r.fieldEnd(end, where, 'create'), create ?? { path: '' });
        break;
      case 0x2a:
        link = decodeLink(
          r,
          r.fieldEnd(end, where, 'link'),
          link ?? { fnode: 0, path: '' },
          'RecordedOp.link',
        );
        break;
      case 0x32:
        unlink = decodeLink(
          r,
          r.fieldEnd(end, where, 'unlink'),
          unlink ?? { fnode: 0, path: '' },
          'RecordedOp.unlink',
        );
        break;
      case 0x3a:
        write = decodeWrite(
          r,
          r.fieldEnd(end, where, 'write'),
          write ?? { fnode: 0, offset: 0, length: 0, payloadCrc32c: 0 },
        );
        break;
      case 0x42:
        property = decodeProperty(
          r,
          r.fieldEnd(end, where, 'property'),
          property ?? { path: '', content: '' },
        );
        break;
      case 0x48:
        firstOffset = r.int64(end, where, 'first_offset');
        break;
      case 0x50:
        lastOffset = r.int64(end, where, 'last_offset');
        break;
      case 0x5a:
        log = r.string(end, where, 'log');
        break;
      case CHMOD_KEY:
        chmod = decodeChmod(r, r.fieldEnd(end, where, 'chmod'), chmod ?? { fnode: 0, mode: 0 });
        break;
      case TRUNCATE_KEY:
        truncate = decodeTruncate(
          r,
          r.fieldEnd(end, where, 'truncate'),
          truncate ?? { fnode: 0, length: 0 },
        );
        break;
      case MKDIR_KEY:
        mkdir = decodeDirectory(
          r,
          r.fieldEnd(end, where, 'mkdir'),
          mkdir ?? { path: '', mode: 0 },
          'RecordedOp.mkdir',
        );
        break;
      case RMDIR_KEY:
        rmdir = decodeDirectory(
          r,
          r.fieldEnd(end, where, 'rmdir'),
          rmdir ?? { path: '', mode: 0 },
          'RecordedOp.rmdir',
        );
        break;
      default:
        r.other(key, end, where, RECORDED_OP_FIELDS);
    }
  }
  const op: RecordedOp = { seqNo, checksum, author, firstOffset, lastOffset, log };
  if (create) op.create = create;
  if (link) op.link = link;
  if (unlink) op.unlink = unlink;
  if (write) {
    const { fnode, offset, length, payloadCrc32c } = write;
    op.write = payloadCrc32c === 0 ? { fnode, offset, length } : write;
  }
  if (property) op.property = property;
  if (chmod) op.chmod = chmod;
  if (truncate) op.truncate = truncate;
  if (mkdir) op.mkdir = mkdir;
  if (rmdir) op.rmdir = rmdir;
  if (r.unsafe !== undefined) checkInt64(op, r.unsafe);
  return op;
}

/**
 * Throws Int64RangeError for the first int64 field (in a fixed order) whose final value was out
 * of range: such values decoded to NaN, and the reader kept the exact text of the last one read
 * for each field, which is the one a NaN that survived to the end came from.
 */
function checkInt64(op: RecordedOp, exact: ReadonlyMap<string, string>): void {
  const fields: Array<[string, number | undefined]> = [
    ['RecordedOp.seq_no', op.seqNo],
    ['RecordedOp.first_offset', op.firstOffset],
    ['RecordedOp.last_offset', op.lastOffset],
    ['RecordedOp.link.fnode', op.link?.fnode],
    ['RecordedOp.unlink.fnode', op.unlink?.fnode],
    ['RecordedOp.write.fnode', op.write?.fnode],
    ['RecordedOp.write.offset', op.write?.offset],
    ['RecordedOp.write.length', op.write?.length],
    ['RecordedOp.chmod.fnode', op.chmod?.fnode],
    ['RecordedOp.truncate.fnode', op.truncate?.fnode],
    ['RecordedOp.truncate.length', op.truncate?.length],
  ];
  for (const [field, value] of fields) {
    if (value !== undefined && Number.isNaN(value)) {
      throw new Int64RangeError(field, exact.get(field) ?? 'NaN', 'decode');
    }
  }
}
