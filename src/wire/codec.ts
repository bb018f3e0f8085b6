import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Reader, Type } from 'protobufjs';
import { errorMessage, RecoveryLogError } from '../errors.js';
import { decodeByteString, encodeByteString } from './byte-string.js';
import { Int64RangeError, malformedString, ProtoDecodeError, uint32OutOfRange } from './errors.js';
import type { DirectoryOp, FnodeSegments, FSMHints, Property, Segment } from './types.js';

// RecordedOps (the hot path of recording and playback) have their own hand-written codec.
export { decodeRecordedOp, encodeRecordedOp } from './op-codec.js';

/*
 * FSMHints (read and written once per snapshot, not per op) go through protobufjs, which is
 * loaded on first use only. protobufjs does the varint/length-delimited work; this module owns
 * everything that decides compatibility with Gazette's Go encoder and our strictness:
 *  - the objects handed to protobufjs hold only non-zero scalars (proto3 implicit presence) and
 *    every present sub-message (even empty), so output is byte-identical to gogo's;
 *  - int64 values are checked to be safe integers both ways (never rounded);
 *  - a known field with the wrong wire type is rejected (protobufjs would skip it as unknown,
 *    gogo fails), by a structural pass before decoding;
 *  - decoded messages are copied into plain objects of the types.ts shapes.
 */

type Protobuf = typeof import('protobufjs');

interface Schema {
  protobuf: Protobuf;
  fsmHints: Type;
  /** Wire type of each scalar proto type (protobufjs' table, typed for lookup by name). */
  basicWireTypes: Readonly<Record<string, number | undefined>>;
}

let schema: Schema | undefined;

/**
 * Loads proto/recorded_op.proto once. The path is resolved from this module's location, which is
 * two levels below the package root both as src/wire/codec.ts (tsx) and dist/wire/codec.js.
 */
function loadSchema(): Schema {
  if (schema === undefined) {
    // A synchronous, lazy load: processes that never touch hints never load protobufjs.
    const protobuf = createRequire(import.meta.url)('protobufjs') as Protobuf;
    const file = fileURLToPath(new URL('../../proto/recorded_op.proto', import.meta.url));
    // Every `string` field is read and written as `bytes` (the same wire type): Gazette's
    // strings may hold any bytes, which byte strings keep exactly (byte-string.ts), where
    // protobufjs' UTF-8 decoding would replace them.
    const text = readFileSync(file, 'utf8').replace(/^(\s*)string(\s+\w+\s*=)/gm, '$1bytes$2');
    const root = protobuf.parse(text, { keepCase: false }).root.resolveAll();
    schema = {
      protobuf,
      fsmHints: root.lookupType('recoverylog.FSMHints'),
      basicWireTypes: protobuf.types.basic,
    };
  }
  return schema;
}

// ---------------------------------------------------------------------------------------------
// Encoding: validate and keep only what Go would emit.

/** A message as handed to protobufjs' encoder: absent keys are not written. */
type WireObject = { [field: string]: number | string | Uint8Array | WireObject | WireObject[] };

function putInt64(out: WireObject, key: string, value: number | undefined, field: string): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value)) throw new Int64RangeError(field, String(value), 'encode');
  if (value !== 0) out[key] = value;
}

function putFixed32(out: WireObject, key: string, value: number | undefined, field: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw uint32OutOfRange(field, String(value));
  }
  if (value !== 0) out[key] = value;
}

/** A uint32 (varint-encoded here, but with fixed32's range). */
function checkUint32(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw uint32OutOfRange(field, String(value));
  }
}

/** A string field, as the bytes of its byte string (UTF-8, escaped bytes as themselves). */
function putString(out: WireObject, key: string, value: string | undefined, field: string): void {
  if (value === undefined) return;
  if (typeof value !== 'string') {
    throw malformedString(field, `expected a string, got ${typeof value}`);
  }
  if (value !== '') out[key] = encodeByteString(value, field);
}

function propertyToWire(property: Property, field: string): WireObject {
  const out: WireObject = {};
  putString(out, 'path', property.path, `${field}.path`);
  putString(out, 'content', property.content, `${field}.content`);
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
  const directories = hints.directories ?? [];
  if (directories.length > 0) {
    out.directories = directories.map((d, i) => {
      const wire: WireObject = {};
      putString(wire, 'path', d.path, `FSMHints.directories[${i}].path`);
      checkUint32(d.mode, `FSMHints.directories[${i}].mode`);
      if (d.mode !== 0) wire.mode = d.mode;
      return wire;
    });
  }
  return out;
}

function encodeWith(type: Type, message: WireObject): Uint8Array {
  const bytes = type.encode(message).finish();
  // protobufjs may hand back a Node Buffer; callers get a plain Uint8Array view of the same bytes.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Encodes FSMHints (protobuf form), byte-identical to Gazette's Go encoder. */
export function encodeFSMHints(hints: FSMHints): Uint8Array {
  const { fsmHints } = loadSchema();
  return encodeWith(fsmHints, fsmHintsToWire(hints));
}

// ---------------------------------------------------------------------------------------------
// Decoding.

/**
 * Walks the wire structure of `bytes` as message `type` and rejects a known field that carries a
 * wire type other than its declared one. protobufjs treats such a field as unknown and skips it,
 * which would let e.g. a corrupted seq_no silently decode as 0; Gazette's decoder fails instead.
 * Also catches truncation, field number 0 and invalid wire types (via protobufjs' Reader).
 */
function checkWireTypes(type: Type, bytes: Uint8Array, where: string): void {
  const { protobuf, basicWireTypes } = loadSchema();
  const reader: Reader = protobuf.Reader.create(bytes);
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
    const expected = subType !== undefined ? 2 : basicWireTypes[field.type];
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
    throw new ProtoDecodeError(messageType, errorMessage(err), { cause: err });
  }
}

/** What protobufjs yields for an int64 when the `long` package is present. */
interface LongValue {
  low: number;
  high: number;
  unsigned: boolean;
}

/** Any value a decoded protobufjs message field may hold. */
type WireValue =
  number | string | Uint8Array | LongValue | DecodedMessage | DecodedMessage[] | null | undefined;
interface DecodedMessage {
  [field: string]: WireValue;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function isLong(value: WireValue): value is LongValue {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
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
  if (value instanceof Uint8Array) return decodeByteString(value);
  return typeof value === 'string' ? value : '';
}

function messagesOf(message: DecodedMessage, key: string): DecodedMessage[] {
  const value = message[key];
  return Array.isArray(value) ? value : [];
}

function propertyFromWire(m: DecodedMessage): Property {
  return { path: stringOf(m, 'path'), content: stringOf(m, 'content') };
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
  const hints: FSMHints = {
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
  const directories = messagesOf(m, 'directories').map((d): DirectoryOp => ({
    path: stringOf(d, 'path'),
    mode: fixed32Of(d, 'mode'),
  }));
  if (directories.length > 0) hints.directories = directories;
  return hints;
}

function decodeWith(type: Type, name: string, bytes: Uint8Array): DecodedMessage {
  return guarded(name, () => {
    checkWireTypes(type, bytes, name);
    return type.decode(bytes) as unknown as DecodedMessage;
  });
}

/** Decodes FSMHints from protobuf bytes into a plain object (same error contract). */
export function decodeFSMHints(bytes: Uint8Array): FSMHints {
  const { fsmHints } = loadSchema();
  return fsmHintsFromWire(decodeWith(fsmHints, 'FSMHints', bytes));
}
