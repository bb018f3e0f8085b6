/**
 * CRC-32C (Castagnoli) with Go `crc32.Update` semantics: the seed is a previous checksum (0 to
 * start), and chaining is associative, so `crc32cUpdate(crc32cUpdate(0, a), b) === crc32c(a ‖ b)`.
 * Results are unsigned 32-bit integers.
 *
 * Every payload byte is checksummed twice on the way to disk (the op's payload_crc32c, then the
 * journal's commit record) and once more on playback, so CRC speed bounds large-write and
 * playback throughput: the native SSE4.2 implementation (@node-rs/crc32, ~5 GB/s here) is used
 * when its prebuilt binary loads, and the pure-JS crc-32 package (~1 GB/s) otherwise. Both give
 * identical results (checked in test/wire/crc32c.test.ts).
 */
import { createRequire } from 'node:module';
// crc-32 has no exports map and is CommonJS: its module object is the default import.
import CRC32C from 'crc-32/crc32c.js';

type Update = (seed: number, bytes: Uint8Array) => number;

/** The pure-JS implementation (always available). */
const crc32cUpdateJs: Update = (seed, bytes) => CRC32C.buf(bytes, seed) >>> 0;

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

/**
 * Below this many bytes the JS implementation is faster than a call into the native one (its
 * fixed cost, ~100 ns, and ~100 ns more to wrap a Uint8Array that is not a Buffer; measured:
 * 100 bytes take 85 ns in JS, 120-210 ns native). The Recorder checksums two short buffers per
 * small write (the op, and its payload), so this is on the hot path.
 */
const NATIVE_FROM = 128;

/** Continues a CRC-32C over `bytes` from `seed` (a previous checksum, or 0). */
export const crc32cUpdate: Update =
  native === undefined
    ? crc32cUpdateJs
    : (seed, bytes) =>
        bytes.length < NATIVE_FROM ? crc32cUpdateJs(seed, bytes) : native(seed, bytes);

/** CRC-32C of `bytes` (seed 0). */
export function crc32c(bytes: Uint8Array): number {
  return crc32cUpdate(0, bytes);
}

// ---- combining ------------------------------------------------------------------------------
// crc32c(a ‖ b) from crc32c(a), crc32c(b) and b's length, without touching the bytes again
// (zlib's crc32_combine, in its x^(2^k) table form): the crc of `a` is multiplied by x^(8·|b|)
// modulo the (reflected) Castagnoli polynomial. A few hundred word operations per call, so a
// fragment's checksum can be derived from the checksums of its commits at seal time.

const POLY_REFLECTED = 0x82f63b78;

/** a·b modulo the polynomial, both reflected (bit 31 is x^0). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let product = 0;
  let factor = b >>> 0;
  for (;;) {
    if ((a & m) !== 0) {
      product ^= factor;
      if ((a & (m - 1)) === 0) break;
    }
    m = m / 2;
    if (m < 1) break;
    factor = factor & 1 ? (factor >>> 1) ^ POLY_REFLECTED : factor >>> 1;
  }
  return product >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N = (() => {
  const table = new Uint32Array(64);
  let p = 0x40000000; // x^1
  table[0] = p;
  for (let k = 1; k < 64; k += 1) table[k] = p = multModP(p, p);
  return table;
})();

/** x^(n·2^k) modulo the polynomial. */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  let rest = n;
  let bit = k;
  while (rest > 0) {
    if (rest % 2 === 1) p = multModP(X2N[bit % 64] as number, p);
    rest = Math.floor(rest / 2);
    bit += 1;
  }
  return p;
}

/** CRC-32C of `a ‖ b` given `crcA` = crc32c(a), `crcB` = crc32c(b) and `lengthB` = |b|. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  return (multModP(x2nModP(lengthB, 3), crcA >>> 0) ^ (crcB >>> 0)) >>> 0;
}

// ---- checksums known in advance --------------------------------------------------------------
// A buffer handed over whole (see Recorder.recordWriteAt's `handOver`) is checksummed once by its
// producer; the journal's commit checksum then combines that value instead of reading the bytes
// a second time. Keyed by the buffer object, so the entry lives exactly as long as the buffer.

const KNOWN = new WeakMap<Uint8Array, number>();

/**
 * From this size on, combining a known CRC (a few hundred word operations, 1-3 µs) is cheaper
 * than computing it again over the bytes (native: ~5 GB/s).
 */
export const COMBINE_PAYS_FROM = 16 * 1024;

/** Notes that `bytes` (which its owner no longer modifies) has CRC-32C `crc`. */
export function noteCrc32c(bytes: Uint8Array, crc: number): void {
  KNOWN.set(bytes, crc >>> 0);
}

/** The CRC-32C noted for `bytes` by noteCrc32c, if any. */
export function knownCrc32c(bytes: Uint8Array): number | undefined {
  return KNOWN.get(bytes);
}
