/**
 * The envelope both of the file journal's record formats share (fragment-record.ts, and the
 * version 1 legacy-record.ts): u32 magic, u32 length L, ..., u32 L again, u32 CRC-32C of the
 * bytes before it. Checking it is the same for both; what lies inside is each format's own.
 */
import { crc32c } from '../crc32c.js';

export type EnvelopeResult =
  | { readonly kind: 'ok'; readonly view: DataView; readonly length: number; readonly crc: number }
  /** The bytes end before the record does (a write in progress, or a torn tail). */
  | { readonly kind: 'incomplete' }
  /** Not a valid record (damage, garbage or a torn tail). */
  | { readonly kind: 'invalid'; readonly reason: string };

/** Checks the envelope of the record at `bytes[at]` (lengths within [minLength, maxLength]). */
export function checkEnvelope(
  bytes: Uint8Array,
  at: number,
  magic: number,
  minLength: number,
  maxLength: number,
): EnvelopeResult {
  const available = bytes.byteLength - at;
  if (available < 8) return { kind: 'incomplete' };
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, available);
  if (view.getUint32(0, true) !== magic) return { kind: 'invalid', reason: 'bad magic' };
  const length = view.getUint32(4, true);
  if (length < minLength || length > maxLength) {
    return { kind: 'invalid', reason: `impossible record length ${length}` };
  }
  if (available < length) return { kind: 'incomplete' };
  if (view.getUint32(length - 8, true) !== length) {
    return { kind: 'invalid', reason: 'trailer length differs from header length' };
  }
  const crc = crc32c(bytes.subarray(at, at + length - 4));
  if (view.getUint32(length - 4, true) !== crc) {
    return { kind: 'invalid', reason: 'record checksum mismatch' };
  }
  return { kind: 'ok', view, length, crc };
}
