/**
 * The RecordedOp decoder, after Gazette's Unmarshal: fields in any order, last scalar wins, a
 * repeated sub-message merges into the earlier one, unknown fields skipped (op-reader.ts). The
 * known-field tables (for wrong-wire-type errors) come from the schema (op-schema.ts); keys are
 * literal bytes in the `switch`es, as in op-encode.ts and for the same reason.
 */
import { Int64RangeError } from './errors.js';
import { CHMOD_KEY, MKDIR_KEY, RMDIR_KEY, TRUNCATE_KEY } from './op-encode.js';
import {
  CHMOD,
  CREATE,
  DIRECTORY,
  LINK,
  PROPERTY,
  RECORDED_OP,
  TRUNCATE,
  WRITE,
} from './op-schema.js';
import { OpReader, uint32Varint } from './op-reader.js';
import type {
  ChmodOp,
  CreateOp,
  DirectoryOp,
  LinkOp,
  Property,
  RecordedOp,
  TruncateOp,
  WriteOp,
} from './types.js';

const WHERE = 'RecordedOp';

/**
 * Decodes a RecordedOp's protobuf bytes (a frame's payload) into a plain object. Absent
 * sub-messages are undefined, present ones (even empty) are objects; meta-fields default to
 * 0 / ''; write.payloadCrc32c is undefined when absent. Throws ProtoDecodeError for undecodable
 * bytes and Int64RangeError for int64 values beyond the safe-integer range. Strings that are
 * not UTF-8 are a ProtoDecodeError unless `byteStrings` (Gazette logs, read leniently): then they
 * decode to byte strings, which encode back to the same bytes.
 *
 * One switch over locals, longer than the ~70-line rule on purpose: this is the hottest parsing
 * path, and splitting it into field readers over a draft object measured markedly slower.
 */
export function decodeRecordedOp(
  bytes: Uint8Array,
  options: { byteStrings?: boolean } = {},
): RecordedOp {
  const r = new OpReader(bytes, options.byteStrings === true);
  const end = bytes.length;
  let seqNo = 0;
  let checksum = 0;
  let author = 0;
  let firstOffset = 0;
  let lastOffset = 0;
  let log = '';
  let create: CreateOp | undefined;
  let link: LinkOp | undefined;
  let unlink: LinkOp | undefined;
  let write: WriteDraft | undefined;
  let property: Property | undefined;
  let chmod: ChmodOp | undefined;
  let truncate: TruncateOp | undefined;
  let mkdir: DirectoryOp | undefined;
  let rmdir: DirectoryOp | undefined;
  while (r.pos < end) {
    const key = r.key(end, WHERE);
    switch (key) {
      case 0x08:
        seqNo = r.int64(end, WHERE, 'seq_no');
        break;
      case 0x15:
        checksum = r.fixed32(end, WHERE, 'checksum');
        break;
      case 0x1d:
        author = r.fixed32(end, WHERE, 'author');
        break;
      case 0x22:
        create = decodeCreate(r, r.fieldEnd(end, WHERE, 'create'), create ?? { path: '' });
        break;
      case 0x2a:
        link = decodeLink(
          r,
          r.fieldEnd(end, WHERE, 'link'),
          link ?? { fnode: 0, path: '' },
          'RecordedOp.link',
        );
        break;
      case 0x32:
        unlink = decodeLink(
          r,
          r.fieldEnd(end, WHERE, 'unlink'),
          unlink ?? { fnode: 0, path: '' },
          'RecordedOp.unlink',
        );
        break;
      case 0x3a:
        write = decodeWrite(
          r,
          r.fieldEnd(end, WHERE, 'write'),
          write ?? { fnode: 0, offset: 0, length: 0, payloadCrc32c: 0 },
        );
        break;
      case 0x42:
        property = decodeProperty(
          r,
          r.fieldEnd(end, WHERE, 'property'),
          property ?? { path: '', content: '' },
        );
        break;
      case 0x48:
        firstOffset = r.int64(end, WHERE, 'first_offset');
        break;
      case 0x50:
        lastOffset = r.int64(end, WHERE, 'last_offset');
        break;
      case 0x5a:
        log = r.string(end, WHERE, 'log');
        break;
      case CHMOD_KEY:
        chmod = decodeChmod(r, r.fieldEnd(end, WHERE, 'chmod'), chmod ?? { fnode: 0, mode: 0 });
        break;
      case TRUNCATE_KEY:
        truncate = decodeTruncate(
          r,
          r.fieldEnd(end, WHERE, 'truncate'),
          truncate ?? { fnode: 0, length: 0 },
        );
        break;
      case MKDIR_KEY:
        mkdir = decodeDirectory(
          r,
          r.fieldEnd(end, WHERE, 'mkdir'),
          mkdir ?? { path: '', mode: 0 },
          'RecordedOp.mkdir',
        );
        break;
      case RMDIR_KEY:
        rmdir = decodeDirectory(
          r,
          r.fieldEnd(end, WHERE, 'rmdir'),
          rmdir ?? { path: '', mode: 0 },
          'RecordedOp.rmdir',
        );
        break;
      default:
        r.other(key, end, WHERE, RECORDED_OP.table);
    }
  }
  const op: RecordedOp = { seqNo, checksum, author, firstOffset, lastOffset, log };
  if (create) op.create = create;
  if (link) op.link = link;
  if (unlink) op.unlink = unlink;
  if (write) {
    const { fnode, offset, length, payloadCrc32c } = write;
    op.write = payloadCrc32c === 0 ? { fnode, offset, length } : write;
  }
  if (property) op.property = property;
  if (chmod) op.chmod = chmod;
  if (truncate) op.truncate = truncate;
  if (mkdir) op.mkdir = mkdir;
  if (rmdir) op.rmdir = rmdir;
  if (r.unsafe !== undefined) checkInt64(op, r.unsafe);
  return op;
}

function decodeCreate(r: OpReader, end: number, into: CreateOp): CreateOp {
  while (r.pos < end) {
    const key = r.key(end, 'RecordedOp.create');
    if (key === 0x0a) into.path = r.string(end, 'RecordedOp.create', 'path');
    else r.other(key, end, 'RecordedOp.create', CREATE.table);
  }
  return into;
}

function decodeLink(r: OpReader, end: number, into: LinkOp, where: string): LinkOp {
  while (r.pos < end) {
    const key = r.key(end, where);
    if (key === 0x08) into.fnode = r.int64(end, where, 'fnode');
    else if (key === 0x12) into.path = r.string(end, where, 'path');
    else r.other(key, end, where, LINK.table);
  }
  return into;
}

/** A Write being decoded: payloadCrc32c is always present here and dropped at the end when 0. */
type WriteDraft = Required<WriteOp>;

function decodeWrite(r: OpReader, end: number, into: WriteDraft): WriteDraft {
  const where = 'RecordedOp.write';
  while (r.pos < end) {
    const key = r.key(end, where);
    switch (key) {
      case 0x08:
        into.fnode = r.int64(end, where, 'fnode');
        break;
      case 0x10:
        into.offset = r.int64(end, where, 'offset');
        break;
      case 0x18:
        into.length = r.int64(end, where, 'length');
        break;
      case 0x7d:
        into.payloadCrc32c = r.fixed32(end, where, 'payload_crc32c');
        break;
      default:
        r.other(key, end, where, WRITE.table);
    }
  }
  return into;
}

function decodeProperty(r: OpReader, end: number, into: Property): Property {
  const where = 'RecordedOp.property';
  while (r.pos < end) {
    const key = r.key(end, where);
    if (key === 0x0a) into.path = r.string(end, where, 'path');
    else if (key === 0x12) into.content = r.string(end, where, 'content');
    else r.other(key, end, where, PROPERTY.table);
  }
  return into;
}

function decodeChmod(r: OpReader, end: number, into: ChmodOp): ChmodOp {
  const where = 'RecordedOp.chmod';
  while (r.pos < end) {
    const key = r.key(end, where);
    if (key === 0x08) into.fnode = r.int64(end, where, 'fnode');
    else if (key === 0x10) into.mode = uint32Varint(r, end, where, 'mode');
    else r.other(key, end, where, CHMOD.table);
  }
  return into;
}

function decodeTruncate(r: OpReader, end: number, into: TruncateOp): TruncateOp {
  const where = 'RecordedOp.truncate';
  while (r.pos < end) {
    const key = r.key(end, where);
    if (key === 0x08) into.fnode = r.int64(end, where, 'fnode');
    else if (key === 0x10) into.length = r.int64(end, where, 'length');
    else r.other(key, end, where, TRUNCATE.table);
  }
  return into;
}

function decodeDirectory(r: OpReader, end: number, into: DirectoryOp, where: string): DirectoryOp {
  while (r.pos < end) {
    const key = r.key(end, where);
    if (key === 0x0a) into.path = r.string(end, where, 'path');
    else if (key === 0x10) into.mode = uint32Varint(r, end, where, 'mode');
    else r.other(key, end, where, DIRECTORY.table);
  }
  return into;
}

/**
 * Throws Int64RangeError for the first int64 field (in a fixed order) whose final value was out
 * of range: such values decoded to NaN, and the reader kept the exact text of the last one read
 * for each field, which is the one a NaN that survived to the end came from.
 */
function checkInt64(op: RecordedOp, exact: ReadonlyMap<string, string>): void {
  const fields: Array<[string, number | undefined]> = [
    ['RecordedOp.seq_no', op.seqNo],
    ['RecordedOp.first_offset', op.firstOffset],
    ['RecordedOp.last_offset', op.lastOffset],
    ['RecordedOp.link.fnode', op.link?.fnode],
    ['RecordedOp.unlink.fnode', op.unlink?.fnode],
    ['RecordedOp.write.fnode', op.write?.fnode],
    ['RecordedOp.write.offset', op.write?.offset],
    ['RecordedOp.write.length', op.write?.length],
    ['RecordedOp.chmod.fnode', op.chmod?.fnode],
    ['RecordedOp.truncate.fnode', op.truncate?.fnode],
    ['RecordedOp.truncate.length', op.truncate?.length],
  ];
  for (const [field, value] of fields) {
    if (value !== undefined && Number.isNaN(value)) {
      throw new Int64RangeError(field, exact.get(field) ?? 'NaN', 'decode');
    }
  }
}
