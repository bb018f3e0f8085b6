/**
 * Byte surgery on the version 1 commit record (src/journal/legacy-record.ts), one test per way
 * `decodeCommitRecord` refuses a record whose envelope is intact. Each test damages one field and
 * then reseals the record (recomputes its CRC), so that the field check, not the checksum, is
 * what must catch it; the envelope's own results (incomplete, bad magic, lengths, trailer, CRC)
 * are record-envelope-surgery.test.ts, checked here only for the bounds this format passes.
 */
import assert from 'node:assert/strict';
import { crc32c } from '../../src/crc32c.js';
import {
  NO_REGISTERS,
  RECORD_FIXED_BYTES,
  RECORD_MAX_BYTES,
  decodeCommitRecord,
  encodeCommitRecord,
} from '../../src/journal/legacy-record.js';

const BEGIN = 8;
const END = 16;
const REGISTERS_AT = 24;
const DATA_CRC = 32;
const REGISTERS_LENGTH = 36;
const REGISTERS = 40;

/** A record at commits-file position 4096 carrying registers, and one that does not. */
const POSITION = 4096;
const carrying = () =>
  encodeCommitRecord({
    begin: 1000,
    end: 1500,
    dataCrc: 0xdeadbeef,
    registersAt: POSITION,
    registers: { author: 'abc' },
  });
const plain = () =>
  encodeCommitRecord({ begin: 1500, end: 1700, dataCrc: 0x12345678, registersAt: POSITION });

function reseal(record: Uint8Array): Uint8Array {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  view.setUint32(record.length - 4, crc32c(record.subarray(0, record.length - 4)), true);
  return record;
}

function setU64(record: Uint8Array, at: number, low: number, high: number): Uint8Array {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  view.setUint32(at, low, true);
  view.setUint32(at + 4, high, true);
  return reseal(record);
}

const decode = (record: Uint8Array) => decodeCommitRecord(record, 0, POSITION);
const invalid = (reason: string) => ({ kind: 'invalid', reason });
const INCONSISTENT = invalid('inconsistent record fields');

describe('journal/legacy-record: byte surgery', () => {
  it('legacy record: intact records decode with every field, at their commits-file position', () => {
    assert.deepEqual(decode(carrying()), {
      kind: 'record',
      record: {
        position: POSITION,
        length: RECORD_FIXED_BYTES + 16,
        begin: 1000,
        end: 1500,
        dataCrc: 0xdeadbeef,
        registersAt: POSITION,
        registers: { author: 'abc' },
      },
    });
    const bytes = Buffer.concat([carrying(), plain()]);
    const second = decodeCommitRecord(bytes, 64, POSITION);
    assert.ok(second.kind === 'record');
    assert.equal(second.record.position, POSITION + 64);
    assert.equal(second.record.registers, undefined);
    assert.equal(second.record.registersAt, POSITION, 'points back at the carrying record');
  });

  it('legacy record: a length below 48 or above 48 + 64 KiB is an impossible record length', () => {
    for (const length of [RECORD_FIXED_BYTES - 1, RECORD_MAX_BYTES + 1]) {
      const damaged = plain();
      new DataView(damaged.buffer, damaged.byteOffset).setUint32(4, length, true);
      assert.deepEqual(decode(damaged), invalid(`impossible record length ${length}`));
    }
  });

  it('legacy record: a flipped bit in the data CRC field is caught by the record CRC', () => {
    const damaged = plain();
    damaged[DATA_CRC]! ^= 0x01;
    assert.deepEqual(decode(damaged), invalid('record checksum mismatch'));
  });

  it('legacy record: a begin beyond 2^53 is inconsistent', () => {
    assert.deepEqual(decode(setU64(plain(), BEGIN, 0, 0x20_0000)), INCONSISTENT);
  });

  it('legacy record: a begin of all ones (the no-registers marker) is inconsistent', () => {
    assert.deepEqual(decode(setU64(plain(), BEGIN, 0xffffffff, 0xffffffff)), INCONSISTENT);
  });

  it('legacy record: an end beyond 2^53 is inconsistent', () => {
    assert.deepEqual(decode(setU64(plain(), END, 0, 0x8000_0000)), INCONSISTENT);
  });

  it('legacy record: an end of all ones is inconsistent', () => {
    assert.deepEqual(decode(setU64(plain(), END, 0xffffffff, 0xffffffff)), INCONSISTENT);
  });

  it('legacy record: an end before the begin is inconsistent', () => {
    assert.deepEqual(decode(setU64(plain(), END, 1499, 0)), INCONSISTENT);
    // An empty commit (end = begin, registers only) is fine.
    assert.equal(decode(setU64(plain(), END, 1500, 0)).kind, 'record');
  });

  it('legacy record: a registersAt beyond 2^53 (and not all ones) is inconsistent', () => {
    assert.deepEqual(decode(setU64(plain(), REGISTERS_AT, 0xffffffff, 0xfffffffe)), INCONSISTENT);
    // All ones is the marker of a journal without registers.
    const none = decode(setU64(plain(), REGISTERS_AT, 0xffffffff, 0xffffffff));
    assert.equal(none.kind === 'record' && none.record.registersAt, NO_REGISTERS);
  });

  it('legacy record: a registers length that disagrees with the record length is inconsistent', () => {
    for (const n of [1, 15, 17, 0xffffffff]) {
      const damaged = carrying();
      new DataView(damaged.buffer, damaged.byteOffset).setUint32(REGISTERS_LENGTH, n, true);
      assert.deepEqual(decode(reseal(damaged)), INCONSISTENT, `n = ${n}`);
    }
    const zero = carrying();
    new DataView(zero.buffer, zero.byteOffset).setUint32(REGISTERS_LENGTH, 0, true);
    assert.deepEqual(decode(reseal(zero)), INCONSISTENT, 'registers bytes present but n = 0');
  });

  it('legacy record: registers that are not UTF-8 are unreadable registers', () => {
    const damaged = carrying(); // {"author":"abc"}
    damaged[REGISTERS + 11]! = 0xff;
    assert.deepEqual(decode(reseal(damaged)), invalid('unreadable registers'));
  });

  it('legacy record: registers that are not JSON are unreadable registers', () => {
    const damaged = carrying();
    damaged[REGISTERS + 15]! = 0x20; // the closing brace
    assert.deepEqual(decode(reseal(damaged)), invalid('unreadable registers'));
  });

  it('legacy record: registers that are JSON but not a register set are unreadable registers', () => {
    for (const text of ['["author","abc"]', '{"author":12345}', '{"":"abcdefghi"}']) {
      const record = encodeCommitRecord({
        begin: 0,
        end: 0,
        dataCrc: 0,
        registersAt: POSITION,
        registers: { author: 'abc' },
      });
      record.set(new TextEncoder().encode(text), REGISTERS); // same 16 bytes
      assert.deepEqual(decode(reseal(record)), invalid('unreadable registers'), text);
    }
  });

  it('legacy record: a record carrying registers that points elsewhere is invalid', () => {
    const elsewhere = setU64(carrying(), REGISTERS_AT, POSITION - 64, 0);
    assert.deepEqual(decode(elsewhere), invalid('record carries registers but points elsewhere'));
    const none = setU64(carrying(), REGISTERS_AT, 0xffffffff, 0xffffffff);
    assert.deepEqual(decode(none), invalid('record carries registers but points elsewhere'));
    // The same bytes are valid where they point: at POSITION - 64.
    assert.equal(decodeCommitRecord(elsewhere, 0, POSITION - 64).kind, 'record');
  });
});
