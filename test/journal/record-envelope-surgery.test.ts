/**
 * Byte surgery on the record envelope both file-journal record formats share
 * (src/journal/record-envelope.ts: u32 magic, u32 length L, body, u32 L again, u32 CRC-32C of
 * the bytes before it), one test per result of `checkEnvelope`, on a small record of its own
 * (the formats inside are tested in legacy-record-surgery.test.ts and by the fragment tests).
 */
import assert from 'node:assert/strict';
import { crc32c } from '../../src/crc32c.js';
import { checkEnvelope } from '../../src/journal/record-envelope.js';

const MAGIC = 0x54534554; // "TEST" as little-endian bytes
const MIN = 16;
const MAX = 64;

/** A sealed record with `body` between the header and the trailer. */
function record(body: Uint8Array, length = 16 + body.length): Uint8Array {
  const bytes = new Uint8Array(16 + body.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, length, true);
  bytes.set(body, 8);
  view.setUint32(bytes.length - 8, length, true);
  view.setUint32(bytes.length - 4, crc32c(bytes.subarray(0, bytes.length - 4)), true);
  return bytes;
}

/** Recomputes the CRC after surgery, so that only the surgery is wrong. */
function reseal(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(bytes.length - 4, crc32c(bytes.subarray(0, bytes.length - 4)), true);
  return bytes;
}

const check = (bytes: Uint8Array, at = 0) => checkEnvelope(bytes, at, MAGIC, MIN, MAX);
const BODY = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);

describe('journal/record-envelope: byte surgery', () => {
  it('envelope: an intact record is ok, with its length and CRC, at any position', () => {
    const sealed = record(BODY);
    const padded = Uint8Array.from([0xee, 0xee, 0xee, ...sealed, 0xff]);
    const result = check(padded, 3);
    assert.equal(result.kind, 'ok');
    assert.equal(result.kind === 'ok' && result.length, 28);
    assert.equal(result.kind === 'ok' && result.crc, crc32c(sealed.subarray(0, 24)));
    assert.equal(result.kind === 'ok' && result.view.getUint8(8), 0xa0, 'the view starts at `at`');
  });

  it('envelope: fewer than 8 bytes (no whole header) is incomplete', () => {
    const sealed = record(BODY);
    for (let k = 0; k < 8; k++)
      assert.deepEqual(check(sealed.subarray(0, k)), { kind: 'incomplete' });
    assert.deepEqual(check(sealed, sealed.length), { kind: 'incomplete' }, 'nothing at `at`');
  });

  it('envelope: a flipped bit in any magic byte is invalid "bad magic"', () => {
    for (let bit = 0; bit < 32; bit++) {
      const damaged = record(BODY);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      assert.deepEqual(check(damaged), { kind: 'invalid', reason: 'bad magic' }, `bit ${bit}`);
    }
  });

  it('envelope: a length below the minimum is invalid, naming the length', () => {
    const damaged = record(BODY);
    new DataView(damaged.buffer).setUint32(4, MIN - 1, true);
    assert.deepEqual(check(damaged), { kind: 'invalid', reason: 'impossible record length 15' });
    new DataView(damaged.buffer).setUint32(4, 0, true);
    assert.deepEqual(check(damaged), { kind: 'invalid', reason: 'impossible record length 0' });
  });

  it('envelope: a length above the maximum is invalid even with the bytes present', () => {
    const damaged = record(new Uint8Array(MAX)); // 80 bytes present
    new DataView(damaged.buffer).setUint32(4, MAX + 1, true);
    assert.deepEqual(check(damaged), { kind: 'invalid', reason: 'impossible record length 65' });
    new DataView(damaged.buffer).setUint32(4, 0xffffffff, true);
    assert.deepEqual(check(damaged), {
      kind: 'invalid',
      reason: 'impossible record length 4294967295',
    });
  });

  it('envelope: the minimum and the maximum lengths themselves are ok', () => {
    assert.equal(check(record(new Uint8Array(0))).kind, 'ok');
    assert.equal(check(record(new Uint8Array(MAX - 16))).kind, 'ok');
  });

  it('envelope: a record cut at every byte k after its header is incomplete', () => {
    const sealed = record(BODY);
    for (let k = 8; k < sealed.length; k++) {
      assert.deepEqual(check(sealed.subarray(0, k)), { kind: 'incomplete' }, `cut at ${k}`);
    }
  });

  it('envelope: a header length the bytes cannot reach yet is incomplete, not invalid', () => {
    // A flipped length bit within bounds looks like a longer record still being written.
    const damaged = record(BODY);
    damaged[4]! ^= 0x20; // 28 -> 60
    assert.deepEqual(check(damaged), { kind: 'incomplete' });
  });

  it('envelope: a header length shorter than the record is invalid (its trailer is not there)', () => {
    const damaged = record(BODY);
    damaged[4]! ^= 0x08; // 28 -> 20: bytes 12..15 are not 20
    assert.deepEqual(check(damaged), {
      kind: 'invalid',
      reason: 'trailer length differs from header length',
    });
  });

  it('envelope: a flipped bit in the trailer length is invalid "trailer length differs"', () => {
    for (let bit = 0; bit < 32; bit++) {
      const damaged = record(BODY);
      damaged[20 + (bit >> 3)]! ^= 1 << (bit & 7);
      assert.deepEqual(
        check(reseal(damaged)),
        { kind: 'invalid', reason: 'trailer length differs from header length' },
        `bit ${bit}`,
      );
    }
  });

  it('envelope: a flipped bit anywhere in the body is a checksum mismatch', () => {
    for (let bit = 8 * 8; bit < 20 * 8; bit++) {
      const damaged = record(BODY);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      assert.deepEqual(
        check(damaged),
        { kind: 'invalid', reason: 'record checksum mismatch' },
        `bit ${bit}`,
      );
    }
  });

  it('envelope: a flipped bit in the CRC itself is a checksum mismatch', () => {
    for (let bit = 24 * 8; bit < 28 * 8; bit++) {
      const damaged = record(BODY);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      assert.deepEqual(check(damaged), { kind: 'invalid', reason: 'record checksum mismatch' });
    }
  });

  it('envelope: an all-zero tail (preallocated space) is bad magic, not a record', () => {
    assert.deepEqual(check(new Uint8Array(64)), { kind: 'invalid', reason: 'bad magic' });
  });

  it('envelope: trailing garbage after a record does not change it; the garbage is bad magic', () => {
    const sealed = record(BODY);
    const bytes = Uint8Array.from([...sealed, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]);
    assert.equal(check(bytes).kind, 'ok');
    assert.deepEqual(check(bytes, sealed.length), { kind: 'invalid', reason: 'bad magic' });
  });
});
