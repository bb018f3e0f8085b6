/**
 * CRC-32C (Castagnoli) with Go `crc32.Update` semantics: the seed is a previous checksum (0 to
 * start), and chaining is associative, so `crc32cUpdate(crc32cUpdate(0, a), b) === crc32c(a ‖ b)`.
 * Results are unsigned 32-bit integers.
 *
 * Every payload byte is checksummed twice on the way to disk (the op's payload_crc32c, then the
 * journal's commit record) and once more on playback, so CRC speed bounds large-write and
 * playback throughput: the native SSE4.2 implementation (@node-rs/crc32, ~5 GB/s here) is used
 * when its prebuilt binary loads, and the pure-JS crc-32 package (~1 GB/s) otherwise. Both give
 * identical results (checked in test/unit/crc32c.test.ts).
 */
import { createRequire } from 'node:module';
// crc-32 has no exports map and is CommonJS: its module object is the default import.
import CRC32C from 'crc-32/crc32c.js';

type Update = (seed: number, bytes: Uint8Array) => number;

/** The pure-JS implementation (always available). */
export const crc32cUpdateJs: Update = (seed, bytes) => CRC32C.buf(bytes, seed) >>> 0;

function loadNative(): Update | undefined {
  if (process.env.RECOVERYLOG_CRC32C === 'js') return undefined;
  try {
    const native = createRequire(import.meta.url)('@node-rs/crc32') as {
      crc32c(input: Buffer, initialState?: number): number;
    };
    const update: Update = (seed, bytes) =>
      native.crc32c(
        Buffer.isBuffer(bytes)
          ? bytes
          : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        seed >>> 0,
      ) >>> 0;
    // Trust it only if it agrees with the reference on the standard check value.
    return update(0, Buffer.from('123456789')) === 0xe3069283 ? update : undefined;
  } catch {
    return undefined;
  }
}

const native = loadNative();

/** Which implementation is in use ('native' or 'js'), for benchmarks and diagnostics. */
export const crc32cImplementation: 'native' | 'js' = native ? 'native' : 'js';

/** Continues a CRC-32C over `bytes` from `seed` (a previous checksum, or 0). */
export const crc32cUpdate: Update = native ?? crc32cUpdateJs;

/** CRC-32C of `bytes` (seed 0). */
export function crc32c(bytes: Uint8Array): number {
  return crc32cUpdate(0, bytes);
}
