/**
 * A minimal scanner of recorded-op frames, used only by the baselines: "raw file I/O doing the
 * same bytes" needs to know where each frame and each Write payload sits in a log, but should
 * not pay for the library's full decoder (that would flatter our ratio). Pure.
 *
 * It understands just enough of proto/recorded_op.proto: a frame is magic (4 B), u32le length,
 * a protobuf RecordedOp, then, for a Write op, `write.length` raw payload bytes. It reads
 * `seq_no` (1), `create` (4) and `write` (7: fnode 1, offset 2, length 3); everything else is
 * skipped by wire type.
 */

const MAGIC = [0x66, 0x33, 0x93, 0x36] as const;
export const HEADER_LENGTH = 8;

export interface ScannedFrame {
  /** Offset of the magic word. */
  begin: number;
  /** Exclusive end, including a Write's payload. */
  end: number;
  seqNo: number;
  /** Set for Create ops: the fnode is the op's seq_no. */
  isCreate: boolean;
  /** Set for Write ops. */
  write?: { fnode: number; offset: number; length: number; payloadBegin: number };
}

export class FrameScanError extends Error {
  constructor(offset: number, what: string) {
    super(`bench frame scanner: ${what} at byte ${offset} (is this a recoverylog journal?)`);
    this.name = 'FrameScanError';
  }
}

/**
 * Scans whole frames of `bytes` (which starts at stream offset `base`). Stops at the first
 * incomplete frame and returns where it stopped, so a caller can feed the log in chunks.
 */
export function scanFrames(
  bytes: Uint8Array,
  base = 0,
): { frames: ScannedFrame[]; consumed: number } {
  const frames: ScannedFrame[] = [];
  let at = 0;
  while (at + HEADER_LENGTH <= bytes.length) {
    for (let k = 0; k < 4; k++) {
      if (bytes[at + k] !== MAGIC[k]) throw new FrameScanError(base + at, 'no frame magic');
    }
    const len =
      (bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24)) >>>
      0;
    const pbEnd = at + HEADER_LENGTH + len;
    if (pbEnd > bytes.length) break;
    const op = parseOp(bytes, at + HEADER_LENGTH, pbEnd, base);
    const end = pbEnd + (op.write ? op.write.length : 0);
    if (end > bytes.length) break;
    frames.push({
      begin: base + at,
      end: base + end,
      seqNo: op.seqNo,
      isCreate: op.isCreate,
      write: op.write && { ...op.write, payloadBegin: base + pbEnd },
    });
    at = end;
  }
  return { frames, consumed: at };
}

interface ParsedOp {
  seqNo: number;
  isCreate: boolean;
  write?: { fnode: number; offset: number; length: number };
}

function parseOp(b: Uint8Array, from: number, to: number, base: number): ParsedOp {
  const op: ParsedOp = { seqNo: 0, isCreate: false };
  const r = { pos: from };
  while (r.pos < to) {
    const key = varint(b, r, to, base);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 1 && wire === 0) op.seqNo = varint(b, r, to, base);
    else if ((field === 4 || field === 7) && wire === 2) {
      const len = varint(b, r, to, base);
      const end = r.pos + len;
      if (end > to) throw new FrameScanError(base + r.pos, 'sub-message overruns its frame');
      if (field === 4) op.isCreate = true;
      else op.write = parseWrite(b, r.pos, end, base);
      r.pos = end;
    } else skip(b, r, to, wire, base);
  }
  return op;
}

function parseWrite(
  b: Uint8Array,
  from: number,
  to: number,
  base: number,
): { fnode: number; offset: number; length: number } {
  const w = { fnode: 0, offset: 0, length: 0 };
  const r = { pos: from };
  while (r.pos < to) {
    const key = varint(b, r, to, base);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0 && field >= 1 && field <= 3) {
      const v = varint(b, r, to, base);
      if (field === 1) w.fnode = v;
      else if (field === 2) w.offset = v;
      else w.length = v;
    } else skip(b, r, to, wire, base);
  }
  return w;
}

function skip(b: Uint8Array, r: { pos: number }, to: number, wire: number, base: number): void {
  if (wire === 0) varint(b, r, to, base);
  else if (wire === 5) r.pos += 4;
  else if (wire === 1) r.pos += 8;
  else if (wire === 2) {
    const len = varint(b, r, to, base); // advances r.pos past the length first
    r.pos += len;
  } else throw new FrameScanError(base + r.pos, `unsupported protobuf wire type ${wire}`);
  if (r.pos > to) throw new FrameScanError(base + r.pos, 'field overruns its frame');
}

/** Decodes an unsigned varint of up to 53 bits (JS safe integers). */
function varint(b: Uint8Array, r: { pos: number }, to: number, base: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (r.pos >= to) throw new FrameScanError(base + r.pos, 'truncated varint');
    const byte = b[r.pos++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
  }
  throw new FrameScanError(base + r.pos, 'varint longer than 53 bits');
}
