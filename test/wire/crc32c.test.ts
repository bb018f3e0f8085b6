import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c, crc32cImplementation, crc32cUpdate, crc32cUpdateJs } from '../../src/crc32c.js';

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
          assert.equal(crc32cUpdate(seed, view), crc32cUpdateJs(seed, view));
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
