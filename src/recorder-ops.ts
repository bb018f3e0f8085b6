/**
 * The op lists of the record calls that need more than one op (the whole-directory ones are in
 * recorder-tree.ts), computed from the FSM (pure). The Recorder validates first, then
 * sequences what these return as ONE append, so a Player applies all or none of it.
 */
import type { FnodeState, FSM } from './fsm.js';
import type { OpBody } from './recorder-tree.js';
import { crc32c } from './crc32c.js';
import type { Fnode } from './wire/types.js';

/** A re-recorded file's content is written in Write ops of at most this many bytes. */
export const RERECORD_WRITE_BYTES = 1024 * 1024;

/** An op and, for a Write, its data (which follows the op's frame). */
export interface OpPart {
  body: OpBody;
  payload?: Uint8Array;
}

/**
 * The ops of a truncating (or creating) open of `rel`, whose current file is `existing`: a new
 * file identity (unlink + create, as Gazette does, and a chmod carrying over a recorded mode, as
 * O_TRUNC keeps the file's mode). Returns the new Fnode too.
 */
export function replaceFileOps(
  fsm: FSM,
  rel: string,
  existing: Fnode | undefined,
): { ops: OpBody[]; fnode: Fnode } {
  const ops: OpBody[] = [];
  const mode = existing === undefined ? undefined : fsm.liveNodes.get(existing)!.mode;
  if (existing !== undefined) ops.push({ unlink: { fnode: existing, path: rel } });
  // A file's identity is its create's SeqNo (a Recorder's SeqNos run on without jumps).
  const fnode: Fnode = fsm.nextSeqNo + ops.length;
  ops.push({ create: { path: rel } });
  if (mode !== undefined) ops.push({ chmod: { fnode, mode } });
  return { ops, fnode };
}

/**
 * The ops of a rename of the file `fnode` from `from` onto `to` (whose file, if any, is
 * `previous`): unlink of `previous`, then a link (or a property op holding `propertyContent`
 * when `to` is a property path), then the unlink of `from`.
 */
export function renameOps(
  fnode: Fnode,
  from: string,
  to: string,
  previous: Fnode | undefined,
  propertyContent: string | undefined,
): OpBody[] {
  const ops: OpBody[] = [];
  if (previous !== undefined) ops.push({ unlink: { fnode: previous, path: to } });
  ops.push(
    propertyContent !== undefined
      ? { property: { path: to, content: propertyContent } }
      : { link: { fnode, path: to } },
  );
  ops.push({ unlink: { fnode, path: from } });
  return ops;
}

/**
 * The ops re-recording the live file `fnode` (`node`) as the new identity `fresh` holding
 * `content` (see Recorder.recordRerecord): for the first link `p`, unlink(fnode, p) and create(p);
 * a chmod carrying over a recorded mode; for every other link `q`, unlink(fnode, q) and
 * link(fresh, q); then `content` as writes of at most RERECORD_WRITE_BYTES.
 */
export function rerecordParts(
  fnode: Fnode,
  node: FnodeState,
  fresh: Fnode,
  content: Uint8Array,
): OpPart[] {
  const [first, ...others] = [...node.links] as [string, ...string[]];
  const parts: OpPart[] = [
    { body: { unlink: { fnode, path: first } } },
    { body: { create: { path: first } } },
  ];
  if (node.mode !== undefined) parts.push({ body: { chmod: { fnode: fresh, mode: node.mode } } });
  for (const path of others) {
    parts.push({ body: { unlink: { fnode, path } } }, { body: { link: { fnode: fresh, path } } });
  }
  for (let at = 0; at < content.length; at += RERECORD_WRITE_BYTES) {
    const chunk = content.subarray(at, Math.min(content.length, at + RERECORD_WRITE_BYTES));
    const write = { fnode: fresh, offset: at, length: chunk.length, payloadCrc32c: crc32c(chunk) };
    parts.push({ body: { write }, payload: chunk });
  }
  return parts;
}
