import assert from 'node:assert/strict';
import fc from 'fast-check';
// crc-32 has no exports map and is CommonJS: its module object is the default import.
import CRC32C from 'crc-32/crc32c.js';
import { crc32c, crc32cImplementation, crc32cUpdate } from '../../src/crc32c.js';

/** The pure-JS package as the reference (what src/crc32c.ts falls back to). */
const reference = (seed: number, bytes: Uint8Array): number => CRC32C.buf(bytes, seed) >>> 0;

describe('CRC-32C implementations', () => {
  it('uses the native implementation on this platform (the benchmarks depend on it)', () => {
    assert.equal(crc32cImplementation, process.env.RECOVERYLOG_CRC32C === 'js' ? 'js' : 'native');
  });

  it('agrees with the pure-JS reference on any bytes, seed and view offset', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(0xffffffff),
        fc.nat(16),
        (b, seed, at) => {
          const view = b.subarray(Math.min(at, b.length));
          assert.equal(crc32cUpdate(seed, view), reference(seed, view));
        },
      ),
    );
  });

  it('has the standard check value and chains like Go crc32.Update', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    const one = crc32cUpdate(crc32cUpdate(0xfeedbeef, Buffer.from('1234')), Buffer.from('8'));
    assert.equal(one, 0xc8dac550);
  });
});

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('CRC-32C with Go crc32.Update semantics (the op checksum chain)', () => {
  it('has the CRC-32C check value', () => {
    assert.equal(crc32c(ascii('123456789')), 0xe3069283);
  });

  it('is 0 over no bytes from seed 0, and keeps the seed over no bytes', () => {
    assert.equal(crc32c(new Uint8Array(0)), 0);
    assert.equal(crc32cUpdate(0xfeedbeef, new Uint8Array(0)), 0xfeedbeef);
  });

  it('reproduces the fsm_test counter vectors', () => {
    const one = crc32cUpdate(0, ascii('1'));
    assert.equal(one, 0x90f599e3);
    assert.equal(crc32cUpdate(one, ascii('2')), 0x7355c460);

    const fromSeed = crc32cUpdate(0xfeedbeef, ascii('1'));
    assert.equal(fromSeed, 0x2d28e063);
    assert.equal(crc32cUpdate(fromSeed, ascii('2')), 0xf11e2261);

    assert.equal(crc32c(ascii('111213')), 0x1cab6124);
    assert.equal(crc32cUpdate(crc32cUpdate(0xfeedbeef, ascii('1234')), ascii('8')), 0xc8dac550);
  });

  it('chains associatively and always returns a uint32', () => {
    const a = ascii('hello, ');
    const b = ascii('recovery log');
    const whole = new Uint8Array([...a, ...b]);
    assert.equal(crc32cUpdate(crc32cUpdate(0, a), b), crc32c(whole));
    for (const seed of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) {
      const value = crc32cUpdate(seed, a);
      assert.ok(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, String(value));
    }
  });
});
