import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { RecoveryLogError } from '../errors.js';
import {
  Int64RangeError,
  MalformedStringError,
  ProtoDecodeError,
  Uint32RangeError,
} from './errors.js';
import type {
  CreateOp,
  FnodeSegments,
  FSMHints,
  LinkOp,
  Property,
  RecordedOp,
  Segment,
  WriteOp,
} from './types.js';

/*
 * protobufjs does the varint/length-delimited work; this module owns everything that decides
 * compatibility with Gazette's Go encoder and our strictness:
 *  - the objects handed to protobufjs hold only non-zero scalars (proto3 implicit presence) and
 *    every present sub-message (even empty), so output is byte-identical to gogo's;
 *  - int64 values are checked to be safe integers both ways (never rounded);
 *  - a known field with the wrong wire type is rejected (protobufjs would skip it as unknown,
 *    gogo fails), by a structural pass before decoding;
 *  - decoded messages are copied into plain objects of the types.ts shapes.
 */

interface Schema {
  recordedOp: protobuf.Type;
  fsmHints: protobuf.Type;
}

let schema: Schema | undefined;

/**
 * Loads proto/recorded_op.proto once. The path is resolved from this module's location, which is
 * two levels below the package root both as src/wire/codec.ts (tsx) and dist/wire/codec.js.
 */
function loadSchema(): Schema {
  if (schema === undefined) {
    const file = fileURLToPath(new URL('../../proto/recorded_op.proto', import.meta.url));
    const root = protobuf.loadSync(file);
    schema = {
      recordedOp: root.lookupType('recoverylog.RecordedOp'),
      fsmHints: root.lookupType('recoverylog.FSMHints'),
    };
  }
  return schema;
}

// ---------------------------------------------------------------------------------------------
// Encoding: validate and keep only what Go would emit.

/** A message as handed to protobufjs' encoder: absent keys are not written. */
type WireObject = { [field: string]: number | string | WireObject | WireObject[] };

function putInt64(out: WireObject, key: string, value: number | undefined, field: string): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value)) throw new Int64RangeError(field, String(value), 'encode');
  if (value !== 0) out[key] = value;
}

function putFixed32(out: WireObject, key: string, value: number | undefined, field: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Uint32RangeError(field, String(value));
  }
  if (value !== 0) out[key] = value;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function putString(out: WireObject, key: string, value: string | undefined, field: string): void {
  if (value === undefined) return;
  if (typeof value !== 'string') {
    throw new MalformedStringError(field, `expected a string, got ${typeof value}`);
  }
  const lone = LONE_SURROGATE.exec(value);
  if (lone !== null) {
    throw new MalformedStringError(field, `lone UTF-16 surrogate at index ${lone.index}`);
  }
  if (value !== '') out[key] = value;
}

function linkToWire(link: LinkOp, field: string): WireObject {
  const out: WireObject = {};
  putInt64(out, 'fnode', link.fnode, `${field}.fnode`);
  putString(out, 'path', link.path, `${field}.path`);
  return out;
}

function propertyToWire(property: Property, field: string): WireObject {
  const out: WireObject = {};
  putString(out, 'path', property.path, `${field}.path`);
  putString(out, 'content', property.content, `${field}.content`);
  return out;
}

function recordedOpToWire(op: RecordedOp): WireObject {
  const out: WireObject = {};
  putInt64(out, 'seqNo', op.seqNo, 'RecordedOp.seq_no');
  putFixed32(out, 'checksum', op.checksum, 'RecordedOp.checksum');
  putFixed32(out, 'author', op.author, 'RecordedOp.author');
  if (op.create) {
    const create: WireObject = {};
    putString(create, 'path', op.create.path, 'RecordedOp.create.path');
    out.create = create;
  }
  if (op.link) out.link = linkToWire(op.link, 'RecordedOp.link');
  if (op.unlink) out.unlink = linkToWire(op.unlink, 'RecordedOp.unlink');
  if (op.write) {
    const write: WireObject = {};
    putInt64(write, 'fnode', op.write.fnode, 'RecordedOp.write.fnode');
    putInt64(write, 'offset', op.write.offset, 'RecordedOp.write.offset');
    putInt64(write, 'length', op.write.length, 'RecordedOp.write.length');
    putFixed32(write, 'payloadCrc32c', op.write.payloadCrc32c, 'RecordedOp.write.payload_crc32c');
    out.write = write;
  }
  if (op.property) out.property = propertyToWire(op.property, 'RecordedOp.property');
  putInt64(out, 'firstOffset', op.firstOffset, 'RecordedOp.first_offset');
  putInt64(out, 'lastOffset', op.lastOffset, 'RecordedOp.last_offset');
  putString(out, 'log', op.log, 'RecordedOp.log');
  return out;
}

function segmentToWire(segment: Segment, field: string): WireObject {
  const out: WireObject = {};
  putFixed32(out, 'author', segment.author, `${field}.author`);
  putInt64(out, 'firstSeqNo', segment.firstSeqNo, `${field}.first_seq_no`);
  putInt64(out, 'firstOffset', segment.firstOffset, `${field}.first_offset`);
  putFixed32(out, 'firstChecksum', segment.firstChecksum, `${field}.first_checksum`);
  putInt64(out, 'lastSeqNo', segment.lastSeqNo, `${field}.last_seq_no`);
  putInt64(out, 'lastOffset', segment.lastOffset, `${field}.last_offset`);
  putString(out, 'log', segment.log, `${field}.log`);
  return out;
}

function fsmHintsToWire(hints: FSMHints): WireObject {
  const out: WireObject = {};
  putString(out, 'log', hints.log, 'FSMHints.log');
  out.liveNodes = (hints.liveNodes ?? []).map((node, i) => {
    const field = `FSMHints.live_nodes[${i}]`;
    const wire: WireObject = {};
    putInt64(wire, 'fnode', node.fnode, `${field}.fnode`);
    wire.segments = (node.segments ?? []).map((s, j) =>
      segmentToWire(s, `${field}.segments[${j}]`),
    );
    return wire;
  });
  out.properties = (hints.properties ?? []).map((p, i) =>
    propertyToWire(p, `FSMHints.properties[${i}]`),
  );
  return out;
}

function encodeWith(type: protobuf.Type, message: WireObject): Uint8Array {
  const bytes = type.encode(message).finish();
  // protobufjs may hand back a Node Buffer; callers get a plain Uint8Array view of the same bytes.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Encodes a RecordedOp exactly as Gazette's Go code does: fields in ascending tag order, zero
 * scalars and empty strings omitted, present sub-messages always emitted (an empty one as
 * `key 00`). The meta-fields (first_offset, last_offset, log) are written only when non-zero;
 * writers leave them zero. Throws Int64RangeError / Uint32RangeError / MalformedStringError for
 * values that cannot be encoded exactly. Missing numeric/string fields count as zero.
 */
export function encodeRecordedOp(op: RecordedOp): Uint8Array {
  const { recordedOp } = loadSchema();
  return encodeWith(recordedOp, recordedOpToWire(op));
}

/** Encodes FSMHints (protobuf form), byte-identical to Gazette's Go encoder. */
export function encodeFSMHints(hints: FSMHints): Uint8Array {
  const { fsmHints } = loadSchema();
  return encodeWith(fsmHints, fsmHintsToWire(hints));
}

// ---------------------------------------------------------------------------------------------
// Decoding.

/** Wire type of each scalar proto type (protobufjs' table, typed for lookup by name). */
const BASIC_WIRE_TYPES: Readonly<Record<string, number | undefined>> = protobuf.types.basic;

/**
 * Walks the wire structure of `bytes` as message `type` and rejects a known field that carries a
 * wire type other than its declared one. protobufjs treats such a field as unknown and skips it,
 * which would let e.g. a corrupted seq_no silently decode as 0; Gazette's decoder fails instead.
 * Also catches truncation, field number 0 and invalid wire types (via protobufjs' Reader).
 */
function checkWireTypes(type: protobuf.Type, bytes: Uint8Array, where: string): void {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wireType = tag & 7;
    const field = type.fieldsById[id];
    if (field === undefined) {
      reader.skipType(wireType, 0, id); // unknown fields are skipped, as gogo does
      continue;
    }
    const subType = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    const expected = subType !== undefined ? 2 : BASIC_WIRE_TYPES[field.type];
    if (wireType !== expected) {
      throw new ProtoDecodeError(
        where,
        `field ${field.name} (tag ${id}) has wire type ${wireType}, expected ${expected}`,
      );
    }
    if (subType === undefined) {
      reader.skipType(wireType);
      continue;
    }
    const length = reader.uint32();
    const start = reader.pos;
    if (start + length > reader.len) {
      throw new ProtoDecodeError(
        where,
        `field ${field.name} (tag ${id}) declares ${length} bytes but only ${reader.len - start} remain`,
      );
    }
    checkWireTypes(subType, bytes.subarray(start, start + length), `${where}.${field.name}`);
    reader.pos = start + length;
  }
}

/** Runs a decode step, turning any parser failure into our typed ProtoDecodeError. */
function guarded<T>(messageType: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof RecoveryLogError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new ProtoDecodeError(messageType, detail, { cause: err });
  }
}

/** What protobufjs yields for an int64 when the `long` package is present. */
interface LongValue {
  low: number;
  high: number;
  unsigned: boolean;
}

/** Any value a decoded protobufjs message field may hold. */
type WireValue = number | string | LongValue | DecodedMessage | DecodedMessage[] | null | undefined;
interface DecodedMessage {
  [field: string]: WireValue;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function isLong(value: WireValue): value is LongValue {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof value.low === 'number' &&
    typeof value.high === 'number'
  );
}

function int64Of(message: DecodedMessage, key: string, field: string): number {
  const value = message[key];
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Int64RangeError(field, String(value), 'decode');
    return value;
  }
  if (isLong(value)) {
    const high = value.unsigned ? value.high >>> 0 : value.high | 0;
    const exact = (BigInt(high) << 32n) + BigInt(value.low >>> 0);
    if (exact > MAX_SAFE || exact < -MAX_SAFE) {
      throw new Int64RangeError(field, exact.toString(), 'decode');
    }
    return Number(exact);
  }
  throw new ProtoDecodeError(field, `unexpected decoded int64 value of type ${typeof value}`);
}

function fixed32Of(message: DecodedMessage, key: string): number {
  const value = message[key];
  return typeof value === 'number' ? value >>> 0 : 0;
}

function stringOf(message: DecodedMessage, key: string): string {
  const value = message[key];
  return typeof value === 'string' ? value : '';
}

/** A present sub-message (possibly empty), or undefined when the field was absent. */
function messageOf(message: DecodedMessage, key: string): DecodedMessage | undefined {
  const value = message[key];
  if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) {
    return undefined;
  }
  return value as DecodedMessage;
}

function messagesOf(message: DecodedMessage, key: string): DecodedMessage[] {
  const value = message[key];
  return Array.isArray(value) ? value : [];
}

function linkFromWire(m: DecodedMessage, field: string): LinkOp {
  return { fnode: int64Of(m, 'fnode', `${field}.fnode`), path: stringOf(m, 'path') };
}

function propertyFromWire(m: DecodedMessage): Property {
  return { path: stringOf(m, 'path'), content: stringOf(m, 'content') };
}

function recordedOpFromWire(m: DecodedMessage): RecordedOp {
  const op: RecordedOp = {
    seqNo: int64Of(m, 'seqNo', 'RecordedOp.seq_no'),
    checksum: fixed32Of(m, 'checksum'),
    author: fixed32Of(m, 'author'),
    firstOffset: int64Of(m, 'firstOffset', 'RecordedOp.first_offset'),
    lastOffset: int64Of(m, 'lastOffset', 'RecordedOp.last_offset'),
    log: stringOf(m, 'log'),
  };
  const create = messageOf(m, 'create');
  if (create) op.create = { path: stringOf(create, 'path') } satisfies CreateOp;
  const link = messageOf(m, 'link');
  if (link) op.link = linkFromWire(link, 'RecordedOp.link');
  const unlink = messageOf(m, 'unlink');
  if (unlink) op.unlink = linkFromWire(unlink, 'RecordedOp.unlink');
  const write = messageOf(m, 'write');
  if (write) {
    const w: WriteOp = {
      fnode: int64Of(write, 'fnode', 'RecordedOp.write.fnode'),
      offset: int64Of(write, 'offset', 'RecordedOp.write.offset'),
      length: int64Of(write, 'length', 'RecordedOp.write.length'),
    };
    const crc = fixed32Of(write, 'payloadCrc32c');
    if (crc !== 0) w.payloadCrc32c = crc;
    op.write = w;
  }
  const property = messageOf(m, 'property');
  if (property) op.property = propertyFromWire(property);
  return op;
}

function segmentFromWire(m: DecodedMessage, field: string): Segment {
  return {
    author: fixed32Of(m, 'author'),
    firstSeqNo: int64Of(m, 'firstSeqNo', `${field}.first_seq_no`),
    firstOffset: int64Of(m, 'firstOffset', `${field}.first_offset`),
    firstChecksum: fixed32Of(m, 'firstChecksum'),
    lastSeqNo: int64Of(m, 'lastSeqNo', `${field}.last_seq_no`),
    lastOffset: int64Of(m, 'lastOffset', `${field}.last_offset`),
    log: stringOf(m, 'log'),
  };
}

function fsmHintsFromWire(m: DecodedMessage): FSMHints {
  return {
    log: stringOf(m, 'log'),
    liveNodes: messagesOf(m, 'liveNodes').map((node, i): FnodeSegments => {
      const field = `FSMHints.live_nodes[${i}]`;
      return {
        fnode: int64Of(node, 'fnode', `${field}.fnode`),
        segments: messagesOf(node, 'segments').map((s, j) =>
          segmentFromWire(s, `${field}.segments[${j}]`),
        ),
      };
    }),
    properties: messagesOf(m, 'properties').map(propertyFromWire),
  };
}

function decodeWith(type: protobuf.Type, name: string, bytes: Uint8Array): DecodedMessage {
  return guarded(name, () => {
    checkWireTypes(type, bytes, name);
    return type.decode(bytes) as unknown as DecodedMessage;
  });
}

/**
 * Decodes a RecordedOp's protobuf bytes (a frame's payload) into a plain object. Absent
 * sub-messages are undefined, present ones (even empty) are objects; meta-fields default to
 * 0 / ''; write.payloadCrc32c is undefined when absent. Throws ProtoDecodeError for undecodable
 * bytes and Int64RangeError for int64 values beyond the safe-integer range.
 */
export function decodeRecordedOp(bytes: Uint8Array): RecordedOp {
  const { recordedOp } = loadSchema();
  return recordedOpFromWire(decodeWith(recordedOp, 'RecordedOp', bytes));
}

/** Decodes FSMHints from protobuf bytes into a plain object (same error contract). */
export function decodeFSMHints(bytes: Uint8Array): FSMHints {
  const { fsmHints } = loadSchema();
  return fsmHintsFromWire(decodeWith(fsmHints, 'FSMHints', bytes));
}
