/** Number formats shared by messages and CLI output. */

/** A 32-bit value (a CRC-32C, an author) as `0x` and eight hex digits, e.g. `0x0000beef`. */
export function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}
