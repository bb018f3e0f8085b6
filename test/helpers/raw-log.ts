/**
 * Test helper: reads a journal's committed bytes from offset 0 and decodes every frame, the way a
 * Player would but without an FSM, so tests can assert exactly what was appended.
 */
import type { Journal } from '../../src/journal/journal.js';
import { decodeRecordedOp } from '../../src/wire/codec.js';
import { FrameDecoder } from '../../src/wire/framing.js';
import type { RecordedOp } from '../../src/wire/types.js';

export interface RawLogEntry {
  /** The decoded op, with the reader meta-fields set (firstOffset, lastOffset, log). */
  op: RecordedOp;
  /** The op's protobuf bytes (what the FSM checksum covers). */
  opBytes: Uint8Array;
  /** A Write's data, which follows its frame unframed. */
  payload?: Uint8Array;
  /** Offset of the op's frame. */
  offset: number;
  /** Exclusive end of the op, including a Write's payload. */
  end: number;
}

/** All committed bytes of `journal`, from `from` (default 0) to its current head. */
export async function readAllBytes(journal: Journal, from = 0): Promise<Uint8Array> {
  const head = await journal.head();
  const out = new Uint8Array(Math.max(0, head - from));
  let offset = from;
  while (offset < head) {
    const { offset: at, bytes } = await journal.read(offset, { blocking: false });
    if (at !== offset) {
      throw new Error(`journal ${journal.name}: offset jump from ${offset} to ${at} (data loss?)`);
    }
    const take = bytes.subarray(0, Math.min(bytes.length, head - offset));
    out.set(take, offset - from);
    offset += take.length;
  }
  return out;
}

/**
 * Every op committed to `journal` (from offset `from`, which must be a frame boundary), in
 * order. Throws on anything but clean frames (garbage, a truncated frame or payload): logs
 * written by our Recorder never contain such bytes.
 */
export async function readAllOps(journal: Journal, from = 0): Promise<RawLogEntry[]> {
  return decodeAllOps(await readAllBytes(journal, from), journal.name, from);
}

/** Decodes a log's bytes, which start at offset `from` of the log (see readAllOps). */
export function decodeAllOps(bytes: Uint8Array, log: string, from = 0): RawLogEntry[] {
  const decoder = new FrameDecoder(from);
  decoder.push(bytes);
  decoder.end();
  const entries: RawLogEntry[] = [];
  for (;;) {
    const event = decoder.next();
    if (event === undefined || event.type === 'eof') break;
    if (event.type === 'garbage') {
      throw new Error(`log ${log}: ${event.bytes.length} garbage bytes at offset ${event.offset}`);
    }
    const op = decodeRecordedOp(event.payload);
    let payload: Uint8Array | undefined;
    if (op.write) payload = decoder.takeRaw(op.write.length);
    const end = decoder.offset;
    op.firstOffset = event.offset;
    op.lastOffset = end;
    op.log = log;
    entries.push({ op, opBytes: event.payload, payload, offset: event.offset, end });
  }
  return entries;
}

/** A directory as a log describes it: files by path (hard links share an Fnode), properties. */
export interface ReplayedTree {
  /** Path ('/rel/path') -> Fnode. */
  links: Map<string, number>;
  /** Fnode -> content. */
  contents: Map<number, Uint8Array>;
  properties: Map<string, string>;
}

/**
 * Applies ops to a plain model of the directory, as a Player would (creates, links, unlinks,
 * writes at offsets, properties, truncations; modes and directories are not modelled), failing loudly on anything a consistent log cannot contain.
 */
export function replayOps(entries: readonly RawLogEntry[]): ReplayedTree {
  const tree: ReplayedTree = { links: new Map(), contents: new Map(), properties: new Map() };
  const where = (e: RawLogEntry): string => `op SeqNo ${e.op.seqNo} at offset ${e.offset}`;
  for (const entry of entries) {
    const { create, link, unlink, write, property, truncate } = entry.op;
    if (create) {
      if (tree.links.has(create.path)) throw new Error(`${where(entry)}: create of existing path`);
      tree.links.set(create.path, entry.op.seqNo);
      tree.contents.set(entry.op.seqNo, new Uint8Array(0));
    } else if (link) {
      if (!tree.contents.has(link.fnode)) throw new Error(`${where(entry)}: link of dead fnode`);
      if (tree.links.has(link.path)) throw new Error(`${where(entry)}: link onto existing path`);
      tree.links.set(link.path, link.fnode);
    } else if (unlink) {
      if (tree.links.get(unlink.path) !== unlink.fnode) {
        throw new Error(`${where(entry)}: unlink of a path the fnode does not have`);
      }
      tree.links.delete(unlink.path);
      if (![...tree.links.values()].includes(unlink.fnode)) tree.contents.delete(unlink.fnode);
    } else if (write) {
      const old = tree.contents.get(write.fnode);
      if (old === undefined) throw new Error(`${where(entry)}: write to dead fnode`);
      const payload = entry.payload ?? new Uint8Array(0);
      const end = write.offset + payload.length;
      const next = new Uint8Array(Math.max(old.length, end));
      next.set(old);
      next.set(payload, write.offset);
      tree.contents.set(write.fnode, next);
    } else if (property) {
      tree.properties.set(property.path, property.content);
    } else if (truncate) {
      const old = tree.contents.get(truncate.fnode);
      if (old === undefined) throw new Error(`${where(entry)}: truncation of dead fnode`);
      const next = new Uint8Array(truncate.length);
      next.set(old.subarray(0, Math.min(old.length, truncate.length)));
      tree.contents.set(truncate.fnode, next);
    }
  }
  return tree;
}
