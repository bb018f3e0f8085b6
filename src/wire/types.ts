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

/** Extension op (tag 101): the file `fnode` has permission bits `mode` (st_mode & 0o7777). */
export interface ChmodOp {
  fnode: Fnode;
  mode: number;
}

/** Extension op (tag 102): the file `fnode` is cut or zero-extended to `length` bytes. */
export interface TruncateOp {
  fnode: Fnode;
  length: number;
}

/**
 * A recorded directory (relative path with a leading '/', permission bits). As the extension op
 * mkdir (tag 103): the directory exists with this mode (made, or its mode changed); as rmdir
 * (tag 104, mode unused): it is gone. Also the entries of FSMHints.directories.
 */
export interface DirectoryOp {
  path: string;
  mode: number;
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
  /** Extension ops (not in Gazette, whose FSM sees an op with only these as a no-op). */
  chmod?: ChmodOp;
  truncate?: TruncateOp;
  mkdir?: DirectoryOp;
  rmdir?: DirectoryOp;
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
  /**
   * Extension (tag 101, JSON key "directories"): the recorded directories, sorted by path.
   * Absent when there are none (so hints without directories are exactly Gazette's).
   */
  directories?: DirectoryOp[];
}

/**
 * Kind of a RecordedOp: the first present of create, link, unlink, write, property (Gazette's
 * order), then of our extension ops chmod, truncate, mkdir, rmdir (which Gazette sees as no-ops).
 */
export type OpKind =
  | 'create'
  | 'link'
  | 'unlink'
  | 'write'
  | 'property'
  | 'chmod'
  | 'truncate'
  | 'mkdir'
  | 'rmdir'
  | 'noop';

export function opKind(op: RecordedOp): OpKind {
  if (op.create) return 'create';
  if (op.link) return 'link';
  if (op.unlink) return 'unlink';
  if (op.write) return 'write';
  if (op.property) return 'property';
  if (op.chmod) return 'chmod';
  if (op.truncate) return 'truncate';
  if (op.mkdir) return 'mkdir';
  if (op.rmdir) return 'rmdir';
  return 'noop';
}
