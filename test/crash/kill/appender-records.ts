/**
 * The raw records of the kill layer's namespace lane (namespaces.ts): appenders write them with
 * plain `journal.append`, no Recorder, one record per append, and the checker reads the whole
 * journal back and parses it. Each record describes itself, so the journal alone says whether it
 * holds only whole records, whose they are and in which order:
 *
 *   magic "RLAP" | writer u32 | seq u32 | length u32 | payload (length bytes) | crc32c u32
 *
 * (little-endian; the CRC-32C covers everything before it). The payload is a function of
 * (writer, seq, length), so a record with a valid CRC but another writer's bytes, or bytes of an
 * earlier record at that place, is caught as well.
 */
import { crc32c } from '../../../src/crc32c.js';
import type { Violation } from './ledger.js';

export const RECORD_MAGIC = Buffer.from('RLAP');
const HEADER = 16;
const TRAILER = 4;
/** A length beyond this is damage, not a record (appenders stay far below). */
const MAX_PAYLOAD = 1 << 20;

/** The payload of record `seq` of `writer` (xorshift32 bytes; deterministic). */
export function recordPayload(writer: number, seq: number, length: number): Buffer {
  let x = (Math.imul(writer >>> 0, 0x9e3779b1) ^ Math.imul(seq >>> 0, 0x85ebca6b) ^ length) >>> 0;
  if (x === 0) x = 0x2545f491;
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export function encodeRecord(writer: number, seq: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER + length + TRAILER);
  RECORD_MAGIC.copy(out, 0);
  out.writeUInt32LE(writer >>> 0, 4);
  out.writeUInt32LE(seq >>> 0, 8);
  out.writeUInt32LE(length, 12);
  recordPayload(writer, seq, length).copy(out, HEADER);
  out.writeUInt32LE(crc32c(out.subarray(0, HEADER + length)), HEADER + length);
  return out;
}

/** A record's size on disk. */
export function recordSize(length: number): number {
  return HEADER + length + TRAILER;
}

/** One writer's records in journal order, as runs of consecutive seqs: [[1, 40], [41, 97]]. */
export type SeqRuns = [number, number][];

export interface ParsedJournal {
  /** Bytes parsed (the journal's head). */
  bytes: number;
  records: number;
  /** Per writer id (decimal string): its records in journal order, as runs. */
  writers: Record<string, SeqRuns>;
  /** What is not a whole record (first few): offset and what is wrong there. */
  damage: { offset: number; what: string }[];
  /** Bytes not part of any whole record. */
  damagedBytes: number;
}

function addSeq(runs: SeqRuns, seq: number): void {
  const last = runs.at(-1);
  if (last !== undefined && last[1] + 1 === seq) last[1] = seq;
  else runs.push([seq, seq]);
}

/** Why the bytes at `at` are not a whole record, or undefined when they are (then its size). */
function recordAt(
  bytes: Buffer,
  at: number,
): { ok: true; writer: number; seq: number; size: number } | { ok: false; what: string } {
  if (bytes.length - at < HEADER + TRAILER) return { ok: false, what: 'a torn record (too short)' };
  if (!bytes.subarray(at, at + 4).equals(RECORD_MAGIC)) return { ok: false, what: 'no magic' };
  const writer = bytes.readUInt32LE(at + 4);
  const seq = bytes.readUInt32LE(at + 8);
  const length = bytes.readUInt32LE(at + 12);
  if (length > MAX_PAYLOAD) return { ok: false, what: `length ${length} out of range` };
  const end = at + HEADER + length;
  if (end + TRAILER > bytes.length) return { ok: false, what: 'a torn record (cut short)' };
  if (crc32c(bytes.subarray(at, end)) !== bytes.readUInt32LE(end)) {
    return { ok: false, what: `CRC mismatch (writer ${writer} seq ${seq})` };
  }
  if (!bytes.subarray(at + HEADER, end).equals(recordPayload(writer, seq, length))) {
    return { ok: false, what: `writer ${writer} seq ${seq}: payload is not its own` };
  }
  return { ok: true, writer, seq, size: end + TRAILER - at };
}

/**
 * Parses a whole journal. After damage it looks for the next whole record (so the report says
 * what survived behind it) and counts the bytes in between as damaged.
 */
export function parseRecords(bytes: Buffer): ParsedJournal {
  const parsed: ParsedJournal = {
    bytes: bytes.length,
    records: 0,
    writers: {},
    damage: [],
    damagedBytes: 0,
  };
  let at = 0;
  while (at < bytes.length) {
    const record = recordAt(bytes, at);
    if (record.ok) {
      parsed.records++;
      addSeq((parsed.writers[String(record.writer)] ??= []), record.seq);
      at += record.size;
      continue;
    }
    if (parsed.damage.length < 8) parsed.damage.push({ offset: at, what: record.what });
    let next = bytes.indexOf(RECORD_MAGIC, at + 1);
    while (next !== -1 && !recordAt(bytes, next).ok) next = bytes.indexOf(RECORD_MAGIC, next + 1);
    const resume = next === -1 ? bytes.length : next;
    parsed.damagedBytes += resume - at;
    at = resume;
  }
  return parsed;
}

/** What the parent knows of one appender. */
export interface AppenderLedger {
  id: number;
  /** For messages: e.g. "round 3 phase 1 unshare writer". */
  label: string;
  /** Records 1..acked were acknowledged (the append resolved before the ack was written). */
  acked: number;
  /** Records 1..issued at most were handed to append (known only for writers that stopped). */
  issued?: number;
  /** A writer that is gone (killed or stopped): its records must never change any more. */
  settled?: number;
}

/**
 * Checks a parsed journal against the ledger: only whole records (I4); every record is one of
 * the run's writers' and each writer's records are 1..m exactly once, in order (I1); m covers
 * every acknowledged record (I2) and no more than were issued (I3); a writer that had stopped
 * or died at an earlier check has exactly the records it had then (I6: nothing of a dead writer
 * appears, or goes, later). Returns each writer's m.
 */
export function checkRecords(
  parsed: ParsedJournal,
  writers: readonly AppenderLedger[],
): { violations: Violation[]; counts: Map<number, number> } {
  const violations: Violation[] = [];
  const counts = new Map<number, number>();
  if (parsed.damagedBytes > 0) {
    violations.push({
      invariant: 'I4',
      detail:
        `${parsed.damagedBytes} of ${parsed.bytes} bytes are not whole records: ` +
        parsed.damage.map((d) => `@${d.offset} ${d.what}`).join('; '),
    });
  }
  const known = new Set(writers.map((w) => String(w.id)));
  for (const id of Object.keys(parsed.writers)) {
    if (!known.has(id)) {
      violations.push({ invariant: 'I1', detail: `records of an unknown writer ${id}` });
    }
  }
  for (const writer of writers) {
    const runs = parsed.writers[String(writer.id)] ?? [];
    const m = runs.length === 0 ? 0 : runs.at(-1)![1];
    counts.set(writer.id, m);
    if (runs.length > 1 || (runs.length === 1 && runs[0]![0] !== 1)) {
      const shown = runs
        .slice(0, 6)
        .map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`))
        .join(', ');
      violations.push({
        invariant: 'I1',
        detail:
          `${writer.label} ${writer.id}: its records are not 1..m once each in order ` +
          `(journal order: ${shown}${runs.length > 6 ? ', ...' : ''})`,
      });
    }
    const present = new Set<number>();
    for (const [a, b] of runs) for (let s = a; s <= b; s++) present.add(s);
    const lost: number[] = [];
    for (let s = 1; s <= writer.acked; s++) if (!present.has(s)) lost.push(s);
    if (lost.length > 0) {
      violations.push({
        invariant: 'I2',
        detail:
          `${writer.label} ${writer.id}: ${lost.length} of ${writer.acked} acknowledged ` +
          `records are missing (first: ${lost.slice(0, 8).join(', ')})`,
      });
    }
    if (writer.issued !== undefined && m > writer.issued) {
      violations.push({
        invariant: 'I3',
        detail: `${writer.label} ${writer.id}: record ${m} is in the journal, but it issued ${writer.issued}`,
      });
    }
    if (writer.settled !== undefined && m !== writer.settled) {
      violations.push({
        invariant: 'I6',
        detail:
          `${writer.label} ${writer.id} was gone with ${writer.settled} records in the journal; ` +
          `a later look finds ${m}`,
      });
    }
  }
  return { violations, counts };
}
