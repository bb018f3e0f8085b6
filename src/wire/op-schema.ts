/**
 * The RecordedOp schema of proto/recorded_op.proto: each message's fields by proto name, with tag
 * and wire type. The decoder's tables of known fields (for wrong-wire-type errors) are derived
 * from it. The codec's `switch`es spell the keys (tag << 3 | wire type) as literal bytes instead
 * of deriving them: V8 compiles literal cases much better (derived constants measured 1.6-3x
 * slower on this hottest path); the wire tests compare every key with protobufjs.
 */

/** Wire types (the low 3 bits of a key). */
export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
export const START_GROUP = 3;
export const END_GROUP = 4;
export const FIXED32 = 5;

export const TWO_32 = 0x1_0000_0000;

/** A message's fields: proto name -> [tag, wire type]. */
type Fields = Readonly<Record<string, readonly [tag: number, wireType: number]>>;

/** proto field name and wire type of each known field number of one message. */
export type FieldTable = ReadonlyArray<readonly [name: string, wireType: number] | undefined>;

export interface Message {
  /** The known fields by field number. */
  readonly table: FieldTable;
}

function message(fields: Fields): Message {
  const table: Array<readonly [string, number] | undefined> = [];
  for (const [name, [tag, wireType]] of Object.entries(fields)) table[tag] = [name, wireType];
  return { table };
}

export const RECORDED_OP = message({
  seq_no: [1, VARINT],
  checksum: [2, FIXED32],
  author: [3, FIXED32],
  create: [4, LENGTH_DELIMITED],
  link: [5, LENGTH_DELIMITED],
  unlink: [6, LENGTH_DELIMITED],
  write: [7, LENGTH_DELIMITED],
  property: [8, LENGTH_DELIMITED],
  first_offset: [9, VARINT],
  last_offset: [10, VARINT],
  log: [11, LENGTH_DELIMITED],
  // Our extension ops: Gazette's FSM skips them as unknown fields.
  chmod: [101, LENGTH_DELIMITED],
  truncate: [102, LENGTH_DELIMITED],
  mkdir: [103, LENGTH_DELIMITED],
  rmdir: [104, LENGTH_DELIMITED],
} as const);

export const CREATE = message({ path: [1, LENGTH_DELIMITED] } as const);

/** Link and Unlink. */
export const LINK = message({ fnode: [1, VARINT], path: [2, LENGTH_DELIMITED] } as const);

export const WRITE = message({
  fnode: [1, VARINT],
  offset: [2, VARINT],
  length: [3, VARINT],
  payload_crc32c: [15, FIXED32],
} as const);

export const PROPERTY = message({
  path: [1, LENGTH_DELIMITED],
  content: [2, LENGTH_DELIMITED],
} as const);

export const CHMOD = message({ fnode: [1, VARINT], mode: [2, VARINT] } as const);

export const TRUNCATE = message({ fnode: [1, VARINT], length: [2, VARINT] } as const);

/** Mkdir and Rmdir. */
export const DIRECTORY = message({ path: [1, LENGTH_DELIMITED], mode: [2, VARINT] } as const);
