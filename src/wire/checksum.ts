// crc-32 has no exports map and is CommonJS: its module object is the default import.
import CRC32C from 'crc-32/crc32c.js';

/**
 * Continues a CRC-32C (Castagnoli) checksum over `bytes`, with the semantics of Go's
 * `crc32.Update(seed, castagnoliTable, bytes)`: the seed is a previous checksum (0 to start), and
 * chaining is associative, so `crc32cUpdate(crc32cUpdate(0, a), b) === crc32c(a ‖ b)`.
 * Returns an unsigned 32-bit integer.
 */
export function crc32cUpdate(seed: number, bytes: Uint8Array): number {
  // The library returns a signed int32; recovery-log checksums are uint32 everywhere.
  return CRC32C.buf(bytes, seed) >>> 0;
}

/** CRC-32C of `bytes` (seed 0). */
export function crc32c(bytes: Uint8Array): number {
  return crc32cUpdate(0, bytes);
}
