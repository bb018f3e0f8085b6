/**
 * The power-cut workload's records and the check of a recovered journal against them (no I/O).
 *
 * Record i is fully determined by (seed, i): an 8-byte header (u32 LE index, u32 LE payload
 * length) and a payload whose length and bytes come from a PRNG seeded with (seed, i). So the
 * only journal a correct implementation can expose is the concatenation of records 0..k-1 for
 * some k, and record i always sits at the same offsets. A writer restarted after a cut simply
 * continues with record k.
 */

export const RECORD_HEADER_BYTES = 8;

/** splitmix32-style mixing: a well-spread 32-bit value from (seed, i, salt). */
function mix(seed: number, i: number, salt: number): number {
  let h = (seed ^ Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(salt, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Payload length of record i: mostly small, sometimes a few KiB, rarely tens of KiB. */
export function payloadLength(seed: number, index: number): number {
  const r = mix(seed, index, 1);
  const bucket = r % 100;
  const spread = mix(seed, index, 2);
  if (bucket < 70) return 1 + (spread % 256);
  if (bucket < 95) return 257 + (spread % 3840);
  return 4097 + (spread % 61440);
}

export function recordBytes(seed: number, index: number): Uint8Array {
  const length = payloadLength(seed, index);
  const bytes = new Uint8Array(RECORD_HEADER_BYTES + length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, index, true);
  view.setUint32(4, length, true);
  // xorshift32 stream: cheap, and every byte depends on (seed, index).
  let x = mix(seed, index, 3) || 1;
  for (let p = RECORD_HEADER_BYTES; p < bytes.length; p++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[p] = x & 0xff;
  }
  return bytes;
}

/** Offsets of the deterministic record stream (memoised: the checker asks for them every cut). */
export class RecordStream {
  readonly seed: number;
  private readonly begins: number[] = [0];

  constructor(seed: number) {
    this.seed = seed;
  }

  /** [begin, end) of record `index` in a journal holding records 0, 1, 2, ... */
  span(index: number): { begin: number; end: number } {
    while (this.begins.length <= index + 1) {
      const i = this.begins.length - 1;
      this.begins.push(this.begins[i]! + RECORD_HEADER_BYTES + payloadLength(this.seed, i));
    }
    return { begin: this.begins[index]!, end: this.begins[index + 1]! };
  }
}

/** One append the writer reported as resolved ("acknowledged"), with the range it returned. */
export interface Ack {
  index: number;
  begin: number;
  end: number;
}

export interface JournalCheck {
  /** Whole, correct records found from offset 0: the journal holds records 0..records-1. */
  records: number;
  /** Byte length of those records. */
  bytes: number;
  /** Everything wrong, one line each; empty = the journal passed. */
  violations: string[];
}

/**
 * Checks recovered journal bytes: they must be exactly records 0..k-1 (whole records, bytes
 * identical; no torn record, no garbage) and k must cover every acknowledged record, each at the
 * range its append returned.
 */
export function checkRecoveredJournal(
  stream: RecordStream,
  recovered: Uint8Array,
  acks: Iterable<Ack>,
): JournalCheck {
  const violations: string[] = [];
  let offset = 0;
  let index = 0;
  while (offset < recovered.length) {
    const expected = recordBytes(stream.seed, index);
    const available = recovered.length - offset;
    if (available < expected.length) {
      violations.push(
        `torn record ${index} at offset ${offset}: ${available} of its ${expected.length} bytes ` +
          'are in the journal (a reopened journal must expose whole appends only)',
      );
      break;
    }
    const mismatch = firstDifference(recovered, offset, expected);
    if (mismatch !== -1) {
      violations.push(
        `record ${index} at offset ${offset} differs from what was appended, first at byte ` +
          `${offset + mismatch} (found 0x${hex(recovered[offset + mismatch]!)}, expected 0x${hex(expected[mismatch]!)})`,
      );
      break;
    }
    offset += expected.length;
    index++;
  }
  for (const ack of acks) {
    const span = stream.span(ack.index);
    if (ack.begin !== span.begin || ack.end !== span.end) {
      violations.push(
        `append of record ${ack.index} resolved with [${ack.begin}, ${ack.end}) but the record ` +
          `belongs at [${span.begin}, ${span.end})`,
      );
    }
    if (ack.index >= index) {
      violations.push(
        `acknowledged record ${ack.index} [${ack.begin}, ${ack.end}) is missing: the recovered ` +
          `journal holds ${index} whole records (${offset} bytes)`,
      );
    }
  }
  return { records: index, bytes: offset, violations };
}

function firstDifference(haystack: Uint8Array, at: number, needle: Uint8Array): number {
  for (let i = 0; i < needle.length; i++) if (haystack[at + i] !== needle[i]) return i;
  return -1;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
