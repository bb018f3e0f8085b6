/**
 * The records of a fragment's index file (`<epoch>.index`, see fragment-layout.ts), the one
 * owner of their byte layout. Every record is self-delimiting and checksummed, and carries the
 * checksum of the record before it, so each record confirms its predecessor was written whole.
 *
 * Layout (little-endian), 48 bytes plus `n` bytes of extra:
 *
 *   0  u32  magic "RLF2"
 *   4  u32  record length L (48 + n)
 *   8  u8   kind (START, COMMIT, SEAL, FENCE, INLINE)
 *   9  u8×3 zero
 *  12  u32  CRC of the previous record in this file (0 for START; FENCE: see below)
 *  16  u64  a   START: first byte offset of the fragment   COMMIT, INLINE: begin  SEAL: fragment begin
 *  24  u64  b   START: 0                                   COMMIT, INLINE: end    SEAL: fragment end
 *  32  u32  c   START: previous epoch (0: none)            COMMIT: CRC-32C of data [begin, end)
 *                                                          SEAL: CRC-32C of the whole fragment
 *                                                          FENCE: the fencing epoch
 *  36  u32  n   length of extra
 *  40  n    extra: START: JSON {epoch, token, registers, prevDataCrc, inline}; COMMIT: registers JSON
 *           when they changed (else empty); FENCE: the fencing writer's token
 *  40+n u32 L again (parse backwards)
 *  44+n u32 CRC-32C of bytes [0, 44+n) of this record
 *
 * A COMMIT with begin == end carries no data: it confirms the record before it (written when
 * the writer goes idle), or changes the registers.
 *
 * INLINE (format version 3) is a COMMIT whose data follows it in the index file: the 48 + n
 * bytes above (kind 5, a = begin, b = end, c = CRC-32C of the data), then exactly b - a bytes of
 * data. The record's own CRC (what the next record confirms) covers the header, which carries
 * the data's CRC, so confirming an INLINE record confirms its data too. The header says how long
 * the data is, so a reader never looks for records inside it: data that ends before b - a bytes
 * is a torn tail. Decoded, an INLINE record is a COMMIT with `payloadAt` set.
 *
 * A FENCE is appended by ANOTHER writer that takes the journal over. It cannot vouch for the
 * record right before it (that may be torn), so its previous-CRC field holds the CRC of the last
 * WHOLE record the fencer read (0: none, and always 0 from format version 2 writers): a reader
 * resynchronising past unreadable bytes accepts only a FENCE that names a record it read (see
 * FragmentIndex.advance), never one that happens to lie inside some commit's data.
 */
import { crc32c } from '../crc32c.js';
import { checkEnvelope } from './record-envelope.js';
import type { Registers } from './journal.js';
import { MAX_REGISTERS_BYTES, decodeRegisters, encodeRegisters } from './registers.js';

export const FRAGMENT_RECORD_MAGIC = 0x3246_4c52; // "RLF2" as little-endian bytes
export const RECORD_HEADER_BYTES = 40;
export const RECORD_FIXED_BYTES = 48;
export const RECORD_MAX_BYTES = RECORD_FIXED_BYTES + MAX_REGISTERS_BYTES + 1024;
/** The most data an INLINE commit carries (larger batches go to the data file). */
export const INLINE_MAX_BYTES = 64 * 1024;

export const START = 1;
export const COMMIT = 2;
export const SEAL = 3;
export const FENCE = 4;
/** On disk only: a COMMIT with its data after it (decoded as COMMIT with `payloadAt`). */
export const INLINE = 5;

export interface StartRecord {
  readonly kind: typeof START;
  readonly epoch: number;
  readonly token: string;
  readonly begin: number;
  readonly prevEpoch: number;
  /** CRC-32C of the previous fragment's bytes (0 when there is none or it is empty). */
  readonly prevDataCrc: number;
  readonly registers: Registers;
  /**
   * Written by a version 3 writer: the fragment may hold INLINE commits, so a FENCE found past
   * unreadable bytes must name a record of this fragment (see the FENCE above).
   */
  readonly inline?: boolean | undefined;
}

export interface CommitRecordFields {
  readonly kind: typeof COMMIT;
  readonly begin: number;
  readonly end: number;
  readonly dataCrc: number;
  /** The registers after this commit, when they changed. */
  readonly registers?: Registers | undefined;
  /** INLINE: index-file position of the data (decoded records only). */
  readonly payloadAt?: number | undefined;
}

export interface SealRecord {
  readonly kind: typeof SEAL;
  readonly begin: number;
  readonly end: number;
  readonly dataCrc: number;
}

export interface FenceRecord {
  readonly kind: typeof FENCE;
  readonly epoch: number;
  readonly token: string;
}

/** An INLINE record's header (its data is written right after it). */
export interface InlineHeader {
  readonly kind: typeof INLINE;
  readonly begin: number;
  readonly end: number;
  readonly dataCrc: number;
  readonly registers?: Registers | undefined;
}

export type FragmentRecord = StartRecord | CommitRecordFields | SealRecord | FenceRecord;

export type Decoded = FragmentRecord & {
  /** INLINE: the length covers the header and the data after it. */
  /** Position of the record in the index file, its length, its own CRC and its prev-CRC. */
  readonly position: number;
  readonly length: number;
  readonly crc: number;
  readonly prevCrc: number;
};

const U32 = 0x1_0000_0000;

function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % U32, true);
  view.setUint32(at + 4, Math.floor(value / U32), true);
}

function readU64(view: DataView, at: number): number | undefined {
  const low = view.getUint32(at, true);
  const high = view.getUint32(at + 4, true);
  if (high >= 0x20_0000) return undefined; // beyond 2^53
  return high * U32 + low;
}

function extraOf(record: FragmentRecord | InlineHeader): Uint8Array {
  switch (record.kind) {
    case START:
      return Buffer.from(
        JSON.stringify({
          epoch: record.epoch,
          token: record.token,
          prevDataCrc: record.prevDataCrc,
          registers: JSON.parse(Buffer.from(encodeRegisters(record.registers)).toString('utf8')),
          ...(record.inline === true ? { inline: true } : {}),
        }),
        'utf8',
      );
    case COMMIT:
    case INLINE:
      return record.registers === undefined ? new Uint8Array(0) : encodeRegisters(record.registers);
    case FENCE:
      return Buffer.from(record.token, 'utf8');
    case SEAL:
      return new Uint8Array(0);
  }
}

/**
 * Encodes `record` (for INLINE, its header: the data is written right after it); `prevCrc` is
 * the CRC of the record before it (0 for START; for FENCE see the file header).
 */
export function encodeRecord(record: FragmentRecord | InlineHeader, prevCrc: number): Buffer {
  const extra = extraOf(record);
  const length = RECORD_FIXED_BYTES + extra.byteLength;
  const bytes = Buffer.alloc(length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  view.setUint32(0, FRAGMENT_RECORD_MAGIC, true);
  view.setUint32(4, length, true);
  view.setUint8(8, record.kind);
  view.setUint32(12, prevCrc >>> 0, true);
  switch (record.kind) {
    case START:
      writeU64(view, 16, record.begin);
      view.setUint32(32, record.prevEpoch, true);
      break;
    case COMMIT:
    case INLINE:
    case SEAL:
      writeU64(view, 16, record.begin);
      writeU64(view, 24, record.end);
      view.setUint32(32, record.dataCrc >>> 0, true);
      break;
    case FENCE:
      view.setUint32(32, record.epoch, true);
      break;
  }
  view.setUint32(36, extra.byteLength, true);
  bytes.set(extra, RECORD_HEADER_BYTES);
  view.setUint32(length - 8, length, true);
  view.setUint32(length - 4, crc32c(bytes.subarray(0, length - 4)), true);
  return bytes;
}

/** The CRC a record carries in its last four bytes (what the next record confirms). */
export function recordCrc(encoded: Uint8Array): number {
  return new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength).getUint32(
    encoded.byteLength - 4,
    true,
  );
}

export type DecodeResult =
  | { readonly kind: 'record'; readonly record: Decoded }
  /**
   * The bytes end before the record does (a write in progress, or a torn tail). `end` is set
   * when a valid INLINE header says where its data ends (relative to `bytes[0]`).
   */
  | { readonly kind: 'incomplete'; readonly end?: number }
  /** Not a valid record (damage, garbage or a torn tail). */
  | { readonly kind: 'invalid'; readonly reason: string };

function parseStartExtra(
  extra: Uint8Array,
):
  | { epoch: number; token: string; prevDataCrc: number; registers: Registers; inline: boolean }
  | undefined {
  try {
    const value = JSON.parse(Buffer.from(extra).toString('utf8')) as Record<string, unknown>;
    const { epoch, token, prevDataCrc, registers, inline } = value;
    if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) return undefined;
    if (typeof token !== 'string' || typeof prevDataCrc !== 'number') return undefined;
    const decoded = decodeRegisters(Buffer.from(JSON.stringify(registers ?? {}), 'utf8'));
    if (decoded === undefined) return undefined;
    return {
      epoch,
      token,
      prevDataCrc: prevDataCrc >>> 0,
      registers: decoded,
      inline: inline === true,
    };
  } catch {
    return undefined;
  }
}

/**
 * Decodes the record at `bytes[at]`; `position` is the index-file position of `bytes[0]`.
 * `available`: how many bytes from `bytes[0]` the file holds. An INLINE record is whole once its
 * data is in the file, even past the end of `bytes` (a reader loading an index skips that data).
 */
export function decodeRecord(
  bytes: Uint8Array,
  at: number,
  position: number,
  available = bytes.byteLength,
): DecodeResult {
  const envelope = checkEnvelope(
    bytes,
    at,
    FRAGMENT_RECORD_MAGIC,
    RECORD_FIXED_BYTES,
    RECORD_MAX_BYTES,
  );
  if (envelope.kind !== 'ok') return envelope;
  const { view, length, crc } = envelope;
  const kind = view.getUint8(8);
  const prevCrc = view.getUint32(12, true);
  const a = readU64(view, 16);
  const b = readU64(view, 24);
  const c = view.getUint32(32, true);
  const extraLength = view.getUint32(36, true);
  if (extraLength !== length - RECORD_FIXED_BYTES || a === undefined || b === undefined) {
    return { kind: 'invalid', reason: 'inconsistent record fields' };
  }
  const extra = bytes.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + extraLength);
  const base = { position: position + at, length, crc, prevCrc };
  switch (kind) {
    case START: {
      const parsed = parseStartExtra(extra);
      if (parsed === undefined) return { kind: 'invalid', reason: 'unreadable START record' };
      return {
        kind: 'record',
        record: { ...base, kind: START, begin: a, prevEpoch: c, ...parsed },
      };
    }
    case COMMIT:
    case INLINE: {
      if (b < a) return { kind: 'invalid', reason: 'commit ends before it begins' };
      let registers: Registers | undefined;
      if (extraLength > 0) {
        registers = decodeRegisters(extra);
        if (registers === undefined) return { kind: 'invalid', reason: 'unreadable registers' };
      }
      if (kind === COMMIT) {
        return {
          kind: 'record',
          record: { ...base, kind: COMMIT, begin: a, end: b, dataCrc: c, registers },
        };
      }
      if (b - a > INLINE_MAX_BYTES) {
        return { kind: 'invalid', reason: `inline commit of ${b - a} bytes` };
      }
      // The data follows the header: the record is whole once all of it is there.
      const end = at + length + (b - a);
      if (end > available) return { kind: 'incomplete', end };
      return {
        kind: 'record',
        record: {
          ...base,
          length: length + (b - a),
          kind: COMMIT,
          begin: a,
          end: b,
          dataCrc: c,
          registers,
          payloadAt: position + at + length,
        },
      };
    }
    case SEAL:
      if (b < a) return { kind: 'invalid', reason: 'seal ends before it begins' };
      return { kind: 'record', record: { ...base, kind: SEAL, begin: a, end: b, dataCrc: c } };
    case FENCE:
      return {
        kind: 'record',
        record: { ...base, kind: FENCE, epoch: c, token: Buffer.from(extra).toString('utf8') },
      };
    default:
      return { kind: 'invalid', reason: `unknown record kind ${kind}` };
  }
}

/** The first position ≥ `from` where a valid record starts, or -1 (a resynchronising scan). */
export function nextValidRecord(bytes: Uint8Array, from: number, position: number): number {
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(FRAGMENT_RECORD_MAGIC, 0);
  const haystack = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = haystack.indexOf(magic, from); at !== -1; at = haystack.indexOf(magic, at + 1)) {
    if (decodeRecord(bytes, at, position).kind === 'record') return at;
  }
  return -1;
}
