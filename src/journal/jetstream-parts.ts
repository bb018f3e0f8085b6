/**
 * How a journal commit is laid out in JetStream messages. One group commit (a batch of appends)
 * becomes one *commit*: a run of 1..n messages at consecutive stream sequences, each a *part*
 * carrying headers
 *
 *   Rl-Commit  an id unique to this attempt of this commit (writer id, counter, attempt)
 *   Rl-Begin   the commit's first byte offset in the journal
 *   Rl-End     the commit's end offset (exclusive), on every part
 *   Rl-Part    `i/n`: this part's index and the number of parts
 *   Rl-Off     the offset of this part's first byte
 *   Rl-Regs    the journal's registers *if the stream ended with this message*: the registers after
 *              the commit on its final part, the registers before it on the other parts (absent:
 *              no registers)
 *
 * so that the last message alone tells the committed head and registers (`tipOf`), and the
 * parts of a commit can be found from any one of them. A commit counts only once its final part
 * exists with the same Rl-Commit at the expected sequence; parts left by a writer that was fenced
 * or died between parts ("orphans") are never read. Rl-Begin never decreases along the stream
 * (an orphan begins at the head of its time, which every later commit begins at or after), which
 * is what lets a reader binary-search sequences by offset.
 */
import type { Registers } from './journal.js';
import { EMPTY_REGISTERS, decodeRegisters, encodeRegisters } from './registers.js';

export const HEADER_COMMIT = 'Rl-Commit';
export const HEADER_BEGIN = 'Rl-Begin';
export const HEADER_END = 'Rl-End';
export const HEADER_PART = 'Rl-Part';
export const HEADER_OFFSET = 'Rl-Off';
export const HEADER_REGISTERS = 'Rl-Regs';

/** A part's decoded headers (its payload travels beside it). */
export interface PartMeta {
  readonly commit: string;
  readonly begin: number;
  readonly end: number;
  readonly index: number;
  readonly count: number;
  readonly offset: number;
  /** Registers that hold if the stream ends with this part (see the module comment). */
  readonly registers: Registers;
}

/** A stored part: its stream sequence, headers and payload. */
export interface StoredPart {
  readonly seq: number;
  readonly meta: PartMeta;
  readonly data: Uint8Array;
}

/** The journal's committed head and registers as seen at the last message of the stream. */
export interface Tip {
  /** Stream sequence of the last message (0: empty stream). */
  readonly seq: number;
  readonly head: number;
  readonly registers: Registers;
}

export const EMPTY_TIP: Tip = Object.freeze({ seq: 0, head: 0, registers: EMPTY_REGISTERS });

export function isFinal(meta: PartMeta): boolean {
  return meta.index === meta.count - 1;
}

/** The journal state if the stream ended with `part`. */
export function tipOf(part: { seq: number; meta: PartMeta }): Tip {
  const { meta } = part;
  return {
    seq: part.seq,
    head: isFinal(meta) ? meta.end : meta.begin,
    registers: meta.registers,
  };
}

/** Header name/value pairs of a part. */
export function partHeaders(meta: PartMeta): [string, string][] {
  const pairs: [string, string][] = [
    [HEADER_COMMIT, meta.commit],
    [HEADER_BEGIN, String(meta.begin)],
    [HEADER_END, String(meta.end)],
    [HEADER_PART, `${meta.index}/${meta.count}`],
    [HEADER_OFFSET, String(meta.offset)],
  ];
  if (Object.keys(meta.registers).length > 0) {
    pairs.push([HEADER_REGISTERS, new TextDecoder().decode(encodeRegisters(meta.registers))]);
  }
  return pairs;
}

function offsetValue(text: string | undefined): number | undefined {
  if (text === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Decodes a part's headers (`get` returns a header's value or undefined). Returns a description
 * of what is wrong instead when the message is not a well-formed part.
 */
export function decodePartMeta(
  get: (name: string) => string | undefined,
  payloadLength: number,
): PartMeta | string {
  const commit = get(HEADER_COMMIT);
  if (commit === undefined || commit.length === 0) return `no ${HEADER_COMMIT} header`;
  const begin = offsetValue(get(HEADER_BEGIN));
  const end = offsetValue(get(HEADER_END));
  const offset = offsetValue(get(HEADER_OFFSET));
  const part = /^(0|[1-9][0-9]{0,8})\/([1-9][0-9]{0,8})$/.exec(get(HEADER_PART) ?? '');
  if (begin === undefined || end === undefined || offset === undefined || part === null) {
    return `malformed ${HEADER_BEGIN}/${HEADER_END}/${HEADER_OFFSET}/${HEADER_PART} headers`;
  }
  const index = Number(part[1]);
  const count = Number(part[2]);
  if (index >= count || end < begin || offset < begin || offset + payloadLength > end) {
    return `inconsistent part headers (part ${index}/${count}, commit [${begin}, ${end}), part offset ${offset}, ${payloadLength} bytes)`;
  }
  if (index === count - 1 && offset + payloadLength !== end) {
    return `the final part ends at ${offset + payloadLength}, not at the commit end ${end}`;
  }
  const registersText = get(HEADER_REGISTERS);
  let registers: Registers = EMPTY_REGISTERS;
  if (registersText !== undefined && registersText.length > 0) {
    const decoded = decodeRegisters(new TextEncoder().encode(registersText));
    if (decoded === undefined) return `malformed ${HEADER_REGISTERS} header`;
    registers = decoded;
  }
  return { commit, begin, end, index, count, offset, registers };
}

/**
 * Splits a commit's bytes (the concatenation of `chunks`, `end - begin` bytes) into parts of at
 * most `partBytes` bytes. A commit without bytes (registers only) is one empty part.
 */
export function splitParts(
  chunks: readonly Uint8Array[],
  size: number,
  partBytes: number,
): Uint8Array[] {
  if (size === 0) return [new Uint8Array(0)];
  const nonEmpty = chunks.filter((chunk) => chunk.byteLength > 0);
  if (nonEmpty.length === 1 && size <= partBytes) return [nonEmpty[0] as Uint8Array];
  const parts: Uint8Array[] = [];
  let current = new Uint8Array(Math.min(partBytes, size));
  let fill = 0;
  let remaining = size;
  for (const chunk of chunks) {
    let at = 0;
    while (at < chunk.byteLength) {
      const take = Math.min(chunk.byteLength - at, current.byteLength - fill);
      current.set(chunk.subarray(at, at + take), fill);
      fill += take;
      at += take;
      if (fill === current.byteLength) {
        parts.push(current);
        remaining -= fill;
        fill = 0;
        current = new Uint8Array(Math.min(partBytes, Math.max(remaining, 0)));
      }
    }
  }
  return parts;
}
