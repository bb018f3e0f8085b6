/**
 * LEGACY (format version 1, recoverylog 0.1): read-only support, see legacy-fragment.ts.
 *
 * The file journal's commit record: one per committed batch, appended to `DIR/commits` after the
 * batch's bytes were written to `DIR/data`. A record says "data [begin, end) is committed, its
 * CRC-32C is X, and the registers after it are Y". The record carries its own CRC, so a torn or
 * garbage tail is recognised; the data CRC lets recovery tell whether the batch's bytes reached
 * the disk too (the two files are synced concurrently, so either may be lost in a crash).
 *
 * Layout (little-endian), 48 bytes plus the registers' JSON:
 *
 *   0  u32  magic "RLJ1"
 *   4  u32  record length L (48 + n)
 *   8  u64  begin: data offset of the batch's first byte
 *  16  u64  end: data offset after the batch's last byte (the new head)
 *  24  u64  registersAt: commits-file position of the record carrying the registers in force
 *           after this commit (this record's own position when it carries them), or all ones
 *           when the journal has no registers. Lets open find registers without a full scan.
 *  32  u32  CRC-32C of data [begin, end)
 *  36  u32  n: length of the registers JSON carried here (0 = unchanged)
 *  40  n    registers as canonical JSON (only when they changed)
 *  40+n u32 L again, so the file can be parsed backwards from its end
 *  44+n u32 CRC-32C of bytes [0, 44+n) of this record
 */
import { crc32c } from '../crc32c.js';
import { checkEnvelope } from './record-envelope.js';
import type { Registers } from './journal.js';
import { MAX_REGISTERS_BYTES, decodeRegisters, encodeRegisters } from './registers.js';

export const RECORD_MAGIC = 0x314a4c52; // "RLJ1" as little-endian bytes
export const RECORD_FIXED_BYTES = 48;
export const RECORD_MAX_BYTES = RECORD_FIXED_BYTES + MAX_REGISTERS_BYTES;
/** registersAt value of a journal without registers. */
export const NO_REGISTERS = -1;

const U32 = 0x1_0000_0000;

export interface CommitRecord {
  /** Position of the record in the commits file. */
  readonly position: number;
  /** Total encoded length. */
  readonly length: number;
  readonly begin: number;
  readonly end: number;
  readonly dataCrc: number;
  /** See the layout: where the registers after this commit are stored, or NO_REGISTERS. */
  readonly registersAt: number;
  /** The registers, when this record carries them. */
  readonly registers: Registers | undefined;
}

export interface CommitRecordFields {
  readonly begin: number;
  readonly end: number;
  readonly dataCrc: number;
  readonly registersAt: number;
  /** Registers to carry (when they changed in this batch). */
  readonly registers?: Registers;
}

function writeU64(view: DataView, at: number, value: number): void {
  if (value === NO_REGISTERS) {
    view.setUint32(at, 0xffffffff, true);
    view.setUint32(at + 4, 0xffffffff, true);
    return;
  }
  view.setUint32(at, value % U32, true);
  view.setUint32(at + 4, Math.floor(value / U32), true);
}

/** Reads a u64 as a safe integer; undefined when it is not one (NO_REGISTERS for all ones). */
function readU64(view: DataView, at: number): number | undefined {
  const low = view.getUint32(at, true);
  const high = view.getUint32(at + 4, true);
  if (low === 0xffffffff && high === 0xffffffff) return NO_REGISTERS;
  if (high >= 0x20_0000) return undefined; // beyond 2^53
  return high * U32 + low;
}

export function encodeCommitRecord(fields: CommitRecordFields): Buffer {
  const registers =
    fields.registers === undefined ? new Uint8Array(0) : encodeRegisters(fields.registers);
  const length = RECORD_FIXED_BYTES + registers.byteLength;
  const record = Buffer.alloc(length);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  view.setUint32(0, RECORD_MAGIC, true);
  view.setUint32(4, length, true);
  writeU64(view, 8, fields.begin);
  writeU64(view, 16, fields.end);
  writeU64(view, 24, fields.registersAt);
  view.setUint32(32, fields.dataCrc >>> 0, true);
  view.setUint32(36, registers.byteLength, true);
  record.set(registers, 40);
  view.setUint32(length - 8, length, true);
  view.setUint32(length - 4, crc32c(record.subarray(0, length - 4)), true);
  return record;
}

export type DecodeResult =
  | { readonly kind: 'record'; readonly record: CommitRecord }
  /** The bytes end before the record does (a write in progress, or a torn tail). */
  | { readonly kind: 'incomplete' }
  /** Not a valid record (garbage or a torn tail). */
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Decodes the record starting at `bytes[at]`; `position` is the commits-file position of
 * `bytes[0]`.
 */
export function decodeCommitRecord(bytes: Uint8Array, at: number, position: number): DecodeResult {
  const envelope = checkEnvelope(bytes, at, RECORD_MAGIC, RECORD_FIXED_BYTES, RECORD_MAX_BYTES);
  if (envelope.kind !== 'ok') return envelope;
  const { view, length } = envelope;
  const begin = readU64(view, 8);
  const end = readU64(view, 16);
  const registersAt = readU64(view, 24);
  const registersLength = view.getUint32(36, true);
  if (
    begin === undefined ||
    begin === NO_REGISTERS ||
    end === undefined ||
    end === NO_REGISTERS ||
    end < begin ||
    registersAt === undefined ||
    registersLength !== length - RECORD_FIXED_BYTES
  ) {
    return { kind: 'invalid', reason: 'inconsistent record fields' };
  }
  let registers: Registers | undefined;
  if (registersLength > 0) {
    registers = decodeRegisters(bytes.subarray(at + 40, at + 40 + registersLength));
    if (registers === undefined) return { kind: 'invalid', reason: 'unreadable registers' };
    if (registersAt !== position + at) {
      return { kind: 'invalid', reason: 'record carries registers but points elsewhere' };
    }
  }
  return {
    kind: 'record',
    record: {
      position: position + at,
      length,
      begin,
      end,
      dataCrc: view.getUint32(32, true),
      registersAt,
      registers,
    },
  };
}
