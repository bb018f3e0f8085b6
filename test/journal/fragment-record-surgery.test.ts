/**
 * Byte surgery on the records of a fragment's index file (src/journal/fragment-record.ts), one
 * named test per way `decodeRecord` and `nextValidRecord` refuse or cut short a record. Records
 * are built with the module's own `encodeRecord`; a test that damages a field inside the
 * checksummed bytes reseals the record (recomputes its CRC), so that the field check, not the
 * checksum, is what must catch it.
 *
 * The paths, and what covered them before this file (fragments.test.ts, inline-commits.test.ts
 * and read-into.test.ts reach decodeRecord only through FileJournal and never assert its result):
 *
 *   decodeRecord, envelope (record-envelope.ts, tested on its own record in
 *   record-envelope-surgery.test.ts; here with this format's magic and bounds):
 *     E1  fewer than 8 bytes, or fewer than L: incomplete (no `end`)
 *                                          indirectly: inline-commits "a tear at every byte"
 *     E2  bad magic (also: all zeros)      none
 *     E3  L < 48 or L > RECORD_MAX_BYTES   none
 *     E4  trailer length differs           none
 *     E5  record checksum mismatch         indirectly: fragments "one bit flipped in the LAST
 *                                          commit record" (outcome only, one field)
 *   decodeRecord, fields:
 *     F1  n differs from L - 48: inconsistent record fields          none
 *     F2  a (u64 at 16) ≥ 2^53: inconsistent record fields           none
 *     F3  b (u64 at 24) ≥ 2^53: inconsistent, for every kind         none
 *     F4  unknown kind (0, 6..255)                                   none
 *     F5  START extra not JSON / not UTF-8-clean JSON object         none
 *     F6  START epoch not a safe integer ≥ 1                         none
 *     F7  START token not a string, prevDataCrc not a number         none
 *     F8  START registers not a register set                         none
 *     F9  COMMIT end < begin                                         none
 *     F10 COMMIT registers unreadable                                none
 *     F11 INLINE end < begin, registers unreadable                   none
 *     F12 INLINE of more than INLINE_MAX_BYTES                       none
 *     F13 INLINE whose data is not all there: incomplete WITH `end` (relative to bytes[0]);
 *         `available` counts data past the end of `bytes`
 *                                          indirectly: inline-commits "a tear at every byte",
 *                                          read-into "loading an index of large INLINE commits"
 *     F14 SEAL end < begin                                           none
 *   Not checked (leniencies, pinned here so that a change is deliberate; the record CRC means
 *   only a faulty writer could produce them): the three zero bytes at 9..11; START's b and
 *   FENCE's a and b (only their 2^53 bound, F3); START's prevEpoch; prevDataCrc is coerced
 *   with `>>> 0` (any JSON number); a START without `registers` reads as {}; invalid UTF-8 in
 *   START's JSON strings is replaced (Buffer#toString) where registers use a fatal decoder.
 *   FENCE has no field check at all.
 *
 *   nextValidRecord:
 *     N1  `from` itself is a valid record: returned (inclusive)     none
 *     N2  magic bytes that do not start a valid record are skipped  none
 *     N3  nothing valid (zeros, a torn record, an INLINE cut short): -1
 *                                                                   none
 *     N4  it finds records inside other records' bytes (an INLINE's data): telling them apart
 *         is FragmentIndex.advance's job        journal level: inline-commits "damage to an
 *                                               older INLINE commit's header ... FENCE record"
 *
 * No path is unreachable.
 */
import assert from 'node:assert/strict';
import { crc32c } from '../../src/crc32c.js';
import {
  COMMIT,
  FENCE,
  FRAGMENT_RECORD_MAGIC,
  INLINE,
  INLINE_MAX_BYTES,
  RECORD_FIXED_BYTES,
  RECORD_MAX_BYTES,
  SEAL,
  START,
  decodeRecord,
  encodeRecord,
  nextValidRecord,
  recordCrc,
} from '../../src/journal/fragment-record.js';

// Field offsets (the layout in fragment-record.ts).
const LENGTH = 4;
const KIND = 8;
const PREV_CRC = 12;
const A = 16;
const B = 24;
const C = 32;
const N = 36;
const EXTRA = 40;

/** Records as the index file of epoch 7 at position 4096 holds them. */
const POSITION = 4096;
const PREV = 0xa1b2c3d4;
const startRecord = () =>
  encodeRecord(
    {
      kind: START,
      epoch: 7,
      token: 'feedfacefeedface',
      begin: 1000,
      prevEpoch: 6,
      prevDataCrc: 0x01020304,
      registers: { author: 'abc' },
    },
    0,
  );
const commit = () =>
  encodeRecord(
    { kind: COMMIT, begin: 1000, end: 1300, dataCrc: 0xdeadbeef, registers: { author: 'abc' } },
    PREV,
  );
const emptyCommit = () => encodeRecord({ kind: COMMIT, begin: 1300, end: 1300, dataCrc: 0 }, PREV);
const DATA = Uint8Array.from({ length: 20 }, (_, i) => 0x30 + i);
const inlineHeader = (registers?: { author: string }) =>
  encodeRecord(
    { kind: INLINE, begin: 1300, end: 1300 + DATA.length, dataCrc: crc32c(DATA), registers },
    PREV,
  );
const inline = () => Buffer.concat([inlineHeader(), DATA]);
const seal = () => encodeRecord({ kind: SEAL, begin: 1000, end: 1320, dataCrc: 0x55aa55aa }, PREV);
const fence = () => encodeRecord({ kind: FENCE, epoch: 9, token: 'cafebabecafebabe' }, PREV);
const ALL = { startRecord, commit, emptyCommit, inline, seal, fence };

function reseal(record: Uint8Array, length = record.byteLength): Uint8Array {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  view.setUint32(length - 4, crc32c(record.subarray(0, length - 4)), true);
  return record;
}

const view = (record: Uint8Array) => new DataView(record.buffer, record.byteOffset);
function setU32(record: Uint8Array, at: number, value: number): Uint8Array {
  view(record).setUint32(at, value, true);
  return reseal(record);
}
function setU64(record: Uint8Array, at: number, low: number, high: number): Uint8Array {
  view(record).setUint32(at, low, true);
  view(record).setUint32(at + 4, high, true);
  return reseal(record);
}

/** A START whose extra is `text` (the record re-framed around it, sealed). */
function startWithExtra(text: string | Uint8Array): Uint8Array {
  const extra = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const record = Buffer.alloc(RECORD_FIXED_BYTES + extra.byteLength);
  startRecord().copy(record, 0, 0, EXTRA);
  record.set(extra, EXTRA);
  view(record).setUint32(LENGTH, record.byteLength, true);
  view(record).setUint32(N, extra.byteLength, true);
  view(record).setUint32(record.byteLength - 8, record.byteLength, true);
  return reseal(record);
}

/** A COMMIT or INLINE header whose registers bytes are `text` (same length as `{"author":"abc"}`). */
function withRegisters(record: Uint8Array, text: string | Uint8Array): Uint8Array {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  assert.equal(bytes.byteLength, 16, 'same length as the registers it replaces');
  record.set(bytes, EXTRA);
  return reseal(record);
}

const decode = (record: Uint8Array) => decodeRecord(record, 0, POSITION);
const invalid = (reason: string) => ({ kind: 'invalid', reason });
const INCONSISTENT = invalid('inconsistent record fields');
const UNREADABLE_START = invalid('unreadable START record');

describe('journal/fragment-record: byte surgery', () => {
  it('fragment record: intact records of every kind decode with every field, at their position', () => {
    const start = startRecord();
    assert.deepEqual(decode(start), {
      kind: 'record',
      record: {
        kind: START,
        position: POSITION,
        length: start.byteLength,
        crc: recordCrc(start),
        prevCrc: 0,
        epoch: 7,
        token: 'feedfacefeedface',
        begin: 1000,
        prevEpoch: 6,
        prevDataCrc: 0x01020304,
        registers: { author: 'abc' },
        inline: false,
      },
    });
    const header = inlineHeader();
    const bytes = Buffer.concat([Buffer.alloc(3, 0xee), inline()]);
    assert.deepEqual(decodeRecord(bytes, 3, POSITION), {
      kind: 'record',
      record: {
        kind: COMMIT,
        position: POSITION + 3,
        length: header.byteLength + DATA.length,
        crc: recordCrc(header),
        prevCrc: PREV,
        begin: 1300,
        end: 1320,
        dataCrc: crc32c(DATA),
        registers: undefined,
        payloadAt: POSITION + 3 + header.byteLength,
      },
    });
    const s = decode(seal());
    assert.ok(s.kind === 'record' && s.record.kind === SEAL);
    assert.deepEqual([s.record.begin, s.record.end, s.record.dataCrc], [1000, 1320, 0x55aa55aa]);
    const f = decode(fence());
    assert.ok(f.kind === 'record' && f.record.kind === FENCE);
    assert.deepEqual(
      [f.record.epoch, f.record.token, f.record.prevCrc],
      [9, 'cafebabecafebabe', PREV],
    );
    const c = decode(commit());
    assert.ok(c.kind === 'record' && c.record.kind === COMMIT);
    assert.equal(c.record.payloadAt, undefined, 'a COMMIT has its data in the data file');
  });

  it('fragment record: cut at every byte before its end, each kind is incomplete (no end)', () => {
    for (const [name, make] of Object.entries(ALL)) {
      const record = make();
      const header = name === 'inline' ? inlineHeader().byteLength : record.byteLength;
      for (let k = 0; k < header; k++) {
        assert.deepEqual(decode(record.subarray(0, k)), { kind: 'incomplete' }, `${name} @${k}`);
      }
    }
  });

  it('fragment record: all zeros (a preallocated or lost block) is bad magic', () => {
    assert.deepEqual(decode(new Uint8Array(64)), invalid('bad magic'));
  });

  it('fragment record: a flipped bit in each magic byte is bad magic', () => {
    for (let byte = 0; byte < 4; byte++) {
      const damaged = commit();
      damaged[byte]! ^= 0x04;
      assert.deepEqual(decode(damaged), invalid('bad magic'), `byte ${byte}`);
    }
  });

  it('fragment record: a length below 48 or above RECORD_MAX_BYTES is an impossible record length', () => {
    for (const length of [0, RECORD_FIXED_BYTES - 1, RECORD_MAX_BYTES + 1, 0xffffffff]) {
      const damaged = commit();
      view(damaged).setUint32(LENGTH, length, true);
      assert.deepEqual(decode(damaged), invalid(`impossible record length ${length}`));
    }
  });

  it('fragment record: a length within bounds but past the bytes (oversize) is incomplete', () => {
    const damaged = commit();
    view(damaged).setUint32(LENGTH, damaged.byteLength + 1, true);
    assert.deepEqual(decode(damaged), { kind: 'incomplete' });
  });

  it('fragment record: a trailer length that differs from the header length is invalid', () => {
    for (const make of [commit, startRecord]) {
      const damaged = make();
      damaged[damaged.byteLength - 8]! ^= 0x01;
      assert.deepEqual(decode(damaged), invalid('trailer length differs from header length'));
    }
    // A shorter header length lands its trailer check inside the record.
    const shorter = Buffer.concat([commit(), Buffer.alloc(8)]);
    view(shorter).setUint32(LENGTH, commit().byteLength + 8, true);
    assert.deepEqual(decode(shorter), invalid('trailer length differs from header length'));
  });

  it('fragment record: a flipped bit in any named field is a record checksum mismatch', () => {
    const fields = { KIND, PAD: 9, PREV_CRC, A, B, C, N, EXTRA, EXTRA_LAST: 55, CRC: 60 };
    for (const [name, at] of Object.entries(fields)) {
      const damaged = commit(); // 64 bytes: 48 + {"author":"abc"}
      assert.equal(damaged.byteLength, 64);
      damaged[at]! ^= 0x80;
      assert.deepEqual(decode(damaged), invalid('record checksum mismatch'), name);
    }
  });

  it('fragment record: trailing garbage after a record does not change it', () => {
    const record = commit();
    const decoded = decode(Buffer.concat([record, Buffer.alloc(13, 0xab)]));
    assert.ok(decoded.kind === 'record');
    assert.equal(decoded.record.length, record.byteLength);
  });

  it('fragment record: an extra length that disagrees with the record length is inconsistent', () => {
    for (const n of [0, 15, 17, 0xffffffff]) {
      assert.deepEqual(decode(setU32(commit(), N, n)), INCONSISTENT, `n = ${n}`);
    }
    assert.deepEqual(decode(setU32(emptyCommit(), N, 1)), INCONSISTENT, 'n = 1 with no extra');
  });

  it('fragment record: an a (begin) of 2^53 or more is inconsistent', () => {
    assert.deepEqual(decode(setU64(commit(), A, 0, 0x20_0000)), INCONSISTENT);
    assert.deepEqual(decode(setU64(startRecord(), A, 0xffffffff, 0xffffffff)), INCONSISTENT);
    // 2^53 - 1 is the largest begin read (an end below it is then a commit ending before it).
    assert.deepEqual(
      decode(setU64(commit(), A, 0xffffffff, 0x1f_ffff)),
      invalid('commit ends before it begins'),
    );
  });

  it('fragment record: a b (end) of 2^53 or more is inconsistent, for every kind', () => {
    for (const [name, make] of Object.entries(ALL)) {
      const damaged = make().subarray(0, name === 'inline' ? inlineHeader().byteLength : undefined);
      assert.deepEqual(decode(setU64(damaged, B, 0, 0x20_0000)), INCONSISTENT, name);
    }
  });

  it('fragment record: an unknown kind is invalid, naming it', () => {
    for (const kind of [0, 6, 0x80, 0xff]) {
      const damaged = commit();
      damaged[KIND] = kind;
      assert.deepEqual(decode(reseal(damaged)), invalid(`unknown record kind ${kind}`));
    }
  });

  it('fragment record: nonzero reserved bytes 9..11 are not checked (a leniency)', () => {
    const damaged = commit();
    damaged.fill(0xff, 9, 12);
    assert.equal(decode(reseal(damaged)).kind, 'record');
  });

  it('fragment record: a START whose extra is not JSON is unreadable', () => {
    const text = new TextDecoder().decode(
      startRecord().subarray(EXTRA, startRecord().byteLength - 8),
    );
    assert.equal(decode(startWithExtra(text)).kind, 'record', 'the re-framing itself is sound');
    assert.deepEqual(decode(startWithExtra(text.slice(0, -1))), UNREADABLE_START, 'cut JSON');
    assert.deepEqual(decode(startWithExtra('')), UNREADABLE_START, 'no extra at all');
  });

  it('fragment record: a START whose extra is JSON but not an object is unreadable', () => {
    for (const text of ['null', '7', '"x"', '[7,"t",0,{}]']) {
      assert.deepEqual(decode(startWithExtra(text)), UNREADABLE_START, text);
    }
  });

  it('fragment record: a START epoch that is not a safe integer of at least 1 is unreadable', () => {
    for (const epoch of ['0', '-1', '1.5', '"7"', 'null', '9007199254740992']) {
      const text = `{"epoch":${epoch},"token":"t","prevDataCrc":0,"registers":{}}`;
      assert.deepEqual(decode(startWithExtra(text)), UNREADABLE_START, epoch);
    }
    const text = '{"epoch":9007199254740991,"token":"t","prevDataCrc":0,"registers":{}}';
    assert.equal(decode(startWithExtra(text)).kind, 'record', 'the largest safe epoch');
  });

  it('fragment record: a START without a string token or a numeric prevDataCrc is unreadable', () => {
    for (const text of [
      '{"epoch":7,"prevDataCrc":0,"registers":{}}',
      '{"epoch":7,"token":7,"prevDataCrc":0,"registers":{}}',
      '{"epoch":7,"token":"t","registers":{}}',
      '{"epoch":7,"token":"t","prevDataCrc":"0","registers":{}}',
    ]) {
      assert.deepEqual(decode(startWithExtra(text)), UNREADABLE_START, text);
    }
  });

  it('fragment record: a START whose registers are not a register set is unreadable', () => {
    for (const registers of ['[]', '"abc"', '{"author":1}', '{"":"x"}']) {
      const text = `{"epoch":7,"token":"t","prevDataCrc":0,"registers":${registers}}`;
      assert.deepEqual(decode(startWithExtra(text)), UNREADABLE_START, registers);
    }
  });

  it('fragment record: START leniencies: no registers reads as {}, prevDataCrc is taken >>> 0', () => {
    const decoded = decode(startWithExtra('{"epoch":7,"token":"t","prevDataCrc":-1}'));
    assert.ok(decoded.kind === 'record' && decoded.record.kind === START);
    assert.deepEqual(decoded.record.registers, {});
    assert.equal(decoded.record.prevDataCrc, 0xffffffff);
  });

  it('fragment record: a COMMIT that ends before it begins is invalid (begin == end is fine)', () => {
    assert.deepEqual(decode(setU64(commit(), B, 999, 0)), invalid('commit ends before it begins'));
    assert.equal(decode(setU64(commit(), B, 1000, 0)).kind, 'record');
  });

  it('fragment record: COMMIT registers that are not UTF-8, JSON or a register set are unreadable', () => {
    const notUtf8 = Buffer.from('{"author":"abc"}', 'utf8');
    notUtf8[12] = 0xff;
    for (const text of [notUtf8, '{"author":"abc" ', '["author","abc"]', '{"author":12345}']) {
      assert.deepEqual(
        decode(withRegisters(commit(), text)),
        invalid('unreadable registers'),
        String(text),
      );
    }
  });

  it('fragment record: an INLINE that ends before it begins, or with unreadable registers, is invalid', () => {
    assert.deepEqual(
      decode(setU64(inlineHeader(), B, 1299, 0)),
      invalid('commit ends before it begins'),
    );
    assert.deepEqual(
      decode(withRegisters(inlineHeader({ author: 'abc' }), '{"author":12345}')),
      invalid('unreadable registers'),
    );
  });

  it('fragment record: an INLINE of more than INLINE_MAX_BYTES is invalid, naming its size', () => {
    const over = setU64(inlineHeader(), B, 1300 + INLINE_MAX_BYTES + 1, 0);
    assert.deepEqual(decode(over), invalid(`inline commit of ${INLINE_MAX_BYTES + 1} bytes`));
    // Exactly INLINE_MAX_BYTES is a valid header, waiting for its data.
    const most = setU64(inlineHeader(), B, 1300 + INLINE_MAX_BYTES, 0);
    assert.deepEqual(decode(most), { kind: 'incomplete', end: 48 + INLINE_MAX_BYTES });
  });

  it('fragment record: an INLINE whose data is cut short is incomplete, with where its data ends', () => {
    const whole = Buffer.concat([Buffer.alloc(5), inline()]);
    const end = whole.byteLength; // relative to bytes[0], not to the record
    for (let k = 5 + inlineHeader().byteLength; k < end; k++) {
      assert.deepEqual(decodeRecord(whole.subarray(0, k), 5, POSITION), {
        kind: 'incomplete',
        end,
      });
    }
    // `available`: the data is in the file past the bytes read (a reader skipping it).
    const headerOnly = whole.subarray(0, 5 + inlineHeader().byteLength);
    const decoded = decodeRecord(headerOnly, 5, POSITION, end);
    assert.ok(decoded.kind === 'record');
    assert.equal(decoded.record.kind === COMMIT && decoded.record.payloadAt, POSITION + 53);
    assert.deepEqual(decodeRecord(headerOnly, 5, POSITION, end - 1), { kind: 'incomplete', end });
  });

  it('fragment record: a SEAL that ends before it begins is invalid (an empty SEAL is fine)', () => {
    assert.deepEqual(decode(setU64(seal(), B, 999, 0)), invalid('seal ends before it begins'));
    assert.equal(decode(setU64(seal(), B, 1000, 0)).kind, 'record');
  });

  it('next valid record: a valid record at `from` is returned', () => {
    const bytes = Buffer.concat([commit(), seal()]);
    assert.equal(nextValidRecord(bytes, 0, POSITION), 0);
    assert.equal(nextValidRecord(bytes, 64, POSITION), 64, 'relative to bytes, not the file');
  });

  it('next valid record: magic bytes that start no valid record are skipped', () => {
    const magic = Buffer.alloc(4);
    magic.writeUInt32LE(FRAGMENT_RECORD_MAGIC);
    const damaged = commit();
    damaged[C]! ^= 0x01;
    const bytes = Buffer.concat([magic, Buffer.alloc(3), damaged, magic, seal()]);
    const sealAt = bytes.byteLength - seal().byteLength;
    assert.equal(nextValidRecord(bytes, 0, POSITION), sealAt);
  });

  it('next valid record: nothing valid after `from` is -1', () => {
    const torn = commit().subarray(0, 50);
    assert.equal(nextValidRecord(torn, 0, POSITION), -1, 'a torn record');
    assert.equal(nextValidRecord(new Uint8Array(200), 0, POSITION), -1, 'zeros');
    assert.equal(nextValidRecord(inline().subarray(0, 67), 0, POSITION), -1, 'an INLINE cut short');
    assert.equal(nextValidRecord(commit(), 1, POSITION), -1, 'from past the only record');
  });

  it("next valid record: a record inside an INLINE commit's data is found (the caller must judge it)", () => {
    const data = fence();
    const header = encodeRecord(
      { kind: INLINE, begin: 0, end: data.byteLength, dataCrc: crc32c(data) },
      PREV,
    );
    const bytes = Buffer.concat([header, data]);
    assert.equal(nextValidRecord(bytes, 0, POSITION), 0);
    assert.equal(nextValidRecord(bytes, 1, POSITION), header.byteLength);
  });
});
