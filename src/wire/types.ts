/**
 * In-memory shapes of the wire messages of proto/recorded_op.proto.
 *
 * int64 fields are `number`: the codec rejects (with a typed error) any value outside the
 * safe-integer range instead of silently rounding it. An absent optional sub-message is
 * `undefined`; a present-but-empty one is an object with zero-valued fields (Gazette keeps that
 * distinction: `create: { path: '' }` is still a create).
 */

/** Identity of a Recorder (or of a Player injecting a hand-off): a uint32, never 0. */
export type Author = number;
/** Identity of a file: the seq_no of the Create op that made it. */
export type Fnode = number;

export interface CreateOp {
  path: string;
}

export interface LinkOp {
  fnode: Fnode;
  path: string;
}

export interface WriteOp {
  fnode: Fnode;
  offset: number;
  length: number;
  /** Our extension (tag 15): CRC-32C of the payload; 0 / absent when not set. */
  payloadCrc32c?: number;
}

export interface Property {
  path: string;
  content: string;
}

export interface RecordedOp {
  seqNo: number;
  checksum: number;
  author: Author;
  create?: CreateOp;
  link?: LinkOp;
  unlink?: LinkOp;
  write?: WriteOp;
  property?: Property;
  /** Meta-field: byte offset of the op's frame in `log` (set by readers, 0 from writers). */
  firstOffset: number;
  /** Meta-field: exclusive end offset of the op, including a Write's payload (0 = unknown). */
  lastOffset: number;
  /** Meta-field: the log the op was read from / appended to. */
  log: string;
}

export interface Segment {
  author: Author;
  firstSeqNo: number;
  firstOffset: number;
  firstChecksum: number;
  lastSeqNo: number;
  /** Exclusive end offset; 0 = unknown. */
  lastOffset: number;
  /** "" inside FSMHints means FSMHints.log. */
  log: string;
}

export interface FnodeSegments {
  fnode: Fnode;
  segments: Segment[];
}

export interface FSMHints {
  log: string;
  liveNodes: FnodeSegments[];
  properties: Property[];
}

/** Kind of a RecordedOp: the first present of create, link, unlink, write, property. */
export type OpKind = 'create' | 'link' | 'unlink' | 'write' | 'property' | 'noop';

export function opKind(op: RecordedOp): OpKind {
  if (op.create) return 'create';
  if (op.link) return 'link';
  if (op.unlink) return 'unlink';
  if (op.write) return 'write';
  if (op.property) return 'property';
  return 'noop';
}
