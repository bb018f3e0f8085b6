/**
 * FSMHints: validation, flattening into a SegmentSet, and the two stored forms.
 *
 * Gazette stores hints as Go `encoding/json` output (struct tags of recorded_op.pb.go) and reads
 * either that or protobuf, choosing by the first byte. We write both forms byte-for-byte as Go
 * would, and read both as tolerantly as Go does, but refuse numbers a JS number cannot hold
 * exactly. Pure: no I/O.
 */
import { RecoveryLogError } from './errors.js';
import {
  SegmentConsistencyError,
  SegmentSet,
  SegmentValidationError,
  validateSegment,
} from './segment.js';
import { decodeFSMHints, encodeFSMHints } from './wire/codec.js';
import { malformedString } from './wire/errors.js';
import type {
  DirectoryOp,
  Fnode,
  FnodeSegments,
  FSMHints,
  Property,
  Segment,
} from './wire/types.js';

/** Hints are structurally valid but describe an impossible or inconsistent history. */
export class HintsValidationError extends RecoveryLogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Stored hints bytes are not valid JSON or protobuf hints. */
export class HintsDecodeError extends RecoveryLogError {
  /** Which form was being decoded. */
  readonly format: HintsFormat;
  /** Path of the offending JSON field (e.g. `live_nodes[0].segments[1].author`), if known. */
  readonly field: string | undefined;
  constructor(format: HintsFormat, detail: string, options?: { cause?: unknown; field?: string }) {
    super(
      `cannot decode ${format} FSMHints: ${detail}; the stored hints are corrupt or were not ` +
        `written by a recoverylog writer: restore them from the backup hints, or play the log ` +
        `without hints (from offset 0)`,
      options,
    );
    this.format = format;
    this.field = options?.field;
  }
}

export type HintsFormat = 'json' | 'protobuf';

const HINTS_ADVICE =
  'these hints cannot describe one linear history: regenerate them from a healthy recorder, ' +
  'use the backup hints, or play the log without hints';

/**
 * Checks every segment of `h` as Gazette's `FSMHints.Validate` does: a segment with an empty log
 * is checked as if its log were `h.log`; one that repeats `h.log` explicitly is refused.
 * Throws HintsValidationError whose message starts with Gazette's text (`Segment.Log: ...`).
 */
export function validateHints(h: FSMHints): void {
  h.liveNodes.forEach((node, n) => {
    node.segments.forEach((seg, i) => {
      const where = ` (live node #${n}, fnode ${node.fnode}, segment #${i})`;
      if (seg.log !== '' && seg.log === h.log) {
        throw new HintsValidationError(
          `contained segment.Log duplicates FSMHints.Log${where}: leave a segment's log empty ` +
            `when it is the hints' log`,
        );
      }
      try {
        validateSegment(seg.log === '' ? { ...seg, log: h.log } : seg);
      } catch (err) {
        if (!(err instanceof SegmentValidationError)) throw err;
        const context = ['Segment', ...err.context].join('.');
        throw new HintsValidationError(`${context}: ${err.problem}${where}`, { cause: err });
      }
    });
  });
}

/**
 * Flattens hinted live nodes into their ordered Fnodes and one SegmentSet (segments with an
 * empty log take `h.log`). Throws HintsValidationError (Gazette's messages first) when a node's
 * first segment does not start at its Fnode, Fnodes are not strictly increasing, segments
 * contradict each other, or the last segment is not in `h.log`.
 */
export function liveLogSegments(h: FSMHints): { fnodes: Fnode[]; segments: SegmentSet } {
  const fnodes: Fnode[] = [];
  const set = new SegmentSet();

  h.liveNodes.forEach((node: FnodeSegments, n) => {
    const first = node.segments[0];
    if (first === undefined || first.firstSeqNo !== node.fnode) {
      const why =
        first === undefined
          ? `live node #${n} (fnode ${node.fnode}) has no segments`
          : `live node #${n} is fnode ${node.fnode} but its first segment starts at SeqNo ${first.firstSeqNo}`;
      throw new HintsValidationError(
        `expected Fnode to match Segment FirstSeqNo: ${why}; ${HINTS_ADVICE}`,
      );
    }
    const prev = fnodes[fnodes.length - 1];
    if (prev !== undefined && prev >= node.fnode) {
      throw new HintsValidationError(
        `expected monotonic Fnode ordering: ${prev} vs ${node.fnode} (live node #${n}); ` +
          HINTS_ADVICE,
      );
    }
    fnodes.push(node.fnode);

    for (const seg of node.segments) {
      try {
        set.add(seg.log === '' ? { ...seg, log: h.log } : seg);
      } catch (err) {
        if (err instanceof SegmentConsistencyError || err instanceof SegmentValidationError) {
          throw new HintsValidationError(
            `${err.message} (adding a segment of fnode ${node.fnode}); ${HINTS_ADVICE}`,
            { cause: err },
          );
        }
        throw err;
      }
    }
  });

  const last = set.segments[set.length - 1];
  if (last !== undefined && last.log !== h.log) {
    // A player that finishes the hinted segments continues in h.log, and it can only know which
    // SeqNo and checksum to expect there if the last hinted segment is in that log too.
    throw new HintsValidationError(
      `expected hints.Log ${h.log} to equal the last Segment Log ${last.log}; ${HINTS_ADVICE}`,
    );
  }
  return { fnodes, segments: set };
}

// ---------------------------------------------------------------------------------------------
// JSON form (Go encoding/json with the recorded_op.pb.go struct tags).

const HEX = '0123456789abcdef';

/**
 * A JSON string literal exactly as Go's json.Marshal writes it: HTML-sensitive `<`, `>`, `&` and
 * the JS-hostile U+2028/U+2029 as \u escapes, short escapes for \b \f \n \r \t, other control
 * characters as \u00xx, everything else raw. A byte of a path or property that is not UTF-8
 * (held as U+DC80..U+DCFF, see wire/byte-string.ts) is written as its escape \udc80..\udcff,
 * which our reader (JSON.parse) turns back into the same byte string; Go's would read U+FFFD (Go
 * itself writes U+FFFD for such bytes, losing them). Any other lone surrogate has no UTF-8 form,
 * so it is refused rather than silently replaced.
 */
function goJSONString(s: string, field: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c && c !== 0x3c && c !== 0x3e && c !== 0x26) {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = s.charCodeAt(i + 1);
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          out += s[i]! + s[i + 1]!;
          i++;
          continue;
        }
        if (c >= 0xdc80 && c <= 0xdcff) {
          // A byte that is not UTF-8 (byte-string.ts) as its escape: JSON.parse gives it back.
          out += `\\u${c.toString(16)}`;
          continue;
        }
        throw malformedString(field, `lone UTF-16 surrogate at index ${i}`);
      }
      out += c === 0x2028 ? '\\u2028' : c === 0x2029 ? '\\u2029' : s[i]!;
      continue;
    }
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      case 0x08:
        out += '\\b';
        break;
      case 0x0c:
        out += '\\f';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x09:
        out += '\\t';
        break;
      default:
        out += '\\u00' + HEX[c >> 4]! + HEX[c & 0xf]!;
    }
  }
  return out + '"';
}

/** Appends `"key":value` members, skipping omitempty members with zero values. */
class JSONObjectWriter {
  readonly #members: string[] = [];
  number(key: string, value: number, omitEmpty: boolean): this {
    if (!(omitEmpty && value === 0)) this.#members.push(`"${key}":${String(value)}`);
    return this;
  }
  string(key: string, value: string, omitEmpty: boolean, field: string): this {
    if (!(omitEmpty && value === '')) {
      this.#members.push(`"${key}":${goJSONString(value, field)}`);
    }
    return this;
  }
  /** A Go slice without omitempty: `null` when empty. */
  array(key: string, items: readonly string[]): this {
    this.#members.push(`"${key}":${items.length === 0 ? 'null' : `[${items.join(',')}]`}`);
    return this;
  }
  toString(): string {
    return `{${this.#members.join(',')}}`;
  }
}

function segmentToJSON(s: Segment, field: string): string {
  return new JSONObjectWriter()
    .number('author', s.author, true)
    .number('first_seq_no', s.firstSeqNo, true)
    .number('first_offset', s.firstOffset, true)
    .number('first_checksum', s.firstChecksum, true)
    .number('last_seq_no', s.lastSeqNo, true)
    .number('last_offset', s.lastOffset, true)
    .string('log', s.log, true, `${field}.log`)
    .toString();
}

/**
 * The JSON text Go's `json.Marshal(FSMHints)` produces: keys in struct order, omitempty where
 * Gazette's tags say so (`live_nodes`, `properties` and `segments` are `null` when empty), no
 * whitespace.
 */
export function hintsToJSON(h: FSMHints): string {
  const nodes = h.liveNodes.map((node, n) =>
    new JSONObjectWriter()
      .number('fnode', node.fnode, true)
      .array(
        'segments',
        node.segments.map((s, i) => segmentToJSON(s, `FSMHints.live_nodes[${n}].segments[${i}]`)),
      )
      .toString(),
  );
  const props = h.properties.map((p, i) =>
    new JSONObjectWriter()
      .string('path', p.path, true, `FSMHints.properties[${i}].path`)
      .string('content', p.content, true, `FSMHints.properties[${i}].content`)
      .toString(),
  );
  const json = new JSONObjectWriter()
    .string('log', h.log, true, 'FSMHints.log')
    .array('live_nodes', nodes)
    .array('properties', props);
  // Our extension, after Gazette's keys (its decoder ignores unknown keys); only when there are
  // recorded directories, so that other hints stay exactly what Go writes.
  const directories = h.directories ?? [];
  if (directories.length > 0) {
    json.array(
      'directories',
      directories.map((d, i) =>
        new JSONObjectWriter()
          .string('path', d.path, true, `FSMHints.directories[${i}].path`)
          .number('mode', d.mode, true)
          .toString(),
      ),
    );
  }
  return json.toString();
}

type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

function jsonTypeName(v: JSONValue): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function typeError(field: string, expected: string, got: JSONValue): HintsDecodeError {
  return new HintsDecodeError(
    'json',
    `field ${field} must be ${expected}, got ${jsonTypeName(got)}`,
    {
      field,
    },
  );
}

/** Go matches JSON keys to struct fields exactly first, then under Unicode simple case folding. */
function foldKey(key: string): string {
  return key.toLowerCase().replace(/\u017f/g, 's');
}

/**
 * Calls `set` for each member of `obj` that names one of `fields` (unknown members are ignored,
 * as Go does). `null` for the whole object means "zero value".
 */
function decodeFields(
  obj: JSONValue,
  where: string,
  fields: readonly string[],
  set: (field: string, value: JSONValue, path: string) => void,
): void {
  if (obj === null) return;
  if (typeof obj !== 'object' || Array.isArray(obj)) throw typeError(where, 'an object', obj);
  for (const [key, value] of Object.entries(obj)) {
    const field = fields.includes(key) ? key : fields.find((f) => f === foldKey(key));
    if (field === undefined) continue;
    set(field, value, where === '' ? field : `${where}.${field}`);
  }
}

function decodeArray<T>(value: JSONValue, path: string, item: (v: JSONValue, p: string) => T): T[] {
  if (value === null) return [];
  if (!Array.isArray(value)) throw typeError(path, 'an array or null', value);
  return value.map((v, i) => item(v, `${path}[${i}]`));
}

/** Decoders for one field kind; `null` keeps the current (zero) value, as in Go. */
const decodeString = (value: JSONValue, path: string, current: string): string => {
  if (value === null) return current;
  if (typeof value !== 'string') throw typeError(path, 'a string', value);
  return value;
};
const decodeInt64 = (value: JSONValue, path: string, current: number): number => {
  if (value === null) return current;
  if (typeof value !== 'number') throw typeError(path, 'an integer', value);
  if (!Number.isSafeInteger(value)) {
    throw new HintsDecodeError(
      'json',
      `field ${path} = ${value} is not an integer within ±${Number.MAX_SAFE_INTEGER} ` +
        `(it cannot be represented exactly)`,
      { field: path },
    );
  }
  return value;
};
const decodeUint32 = (value: JSONValue, path: string, current: number): number => {
  if (value === null) return current;
  if (typeof value !== 'number') throw typeError(path, 'an unsigned 32-bit integer', value);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new HintsDecodeError(
      'json',
      `field ${path} = ${value} is not an unsigned 32-bit integer`,
      { field: path },
    );
  }
  return value;
};

function decodeSegment(v: JSONValue, where: string): Segment {
  const s: Segment = {
    author: 0,
    firstSeqNo: 0,
    firstOffset: 0,
    firstChecksum: 0,
    lastSeqNo: 0,
    lastOffset: 0,
    log: '',
  };
  decodeFields(
    v,
    where,
    [
      'author',
      'first_seq_no',
      'first_offset',
      'first_checksum',
      'last_seq_no',
      'last_offset',
      'log',
    ],
    (field, value, path) => {
      switch (field) {
        case 'author':
          s.author = decodeUint32(value, path, s.author);
          break;
        case 'first_seq_no':
          s.firstSeqNo = decodeInt64(value, path, s.firstSeqNo);
          break;
        case 'first_offset':
          s.firstOffset = decodeInt64(value, path, s.firstOffset);
          break;
        case 'first_checksum':
          s.firstChecksum = decodeUint32(value, path, s.firstChecksum);
          break;
        case 'last_seq_no':
          s.lastSeqNo = decodeInt64(value, path, s.lastSeqNo);
          break;
        case 'last_offset':
          s.lastOffset = decodeInt64(value, path, s.lastOffset);
          break;
        case 'log':
          s.log = decodeString(value, path, s.log);
          break;
      }
    },
  );
  return s;
}

function decodeFnodeSegments(v: JSONValue, where: string): FnodeSegments {
  const node: FnodeSegments = { fnode: 0, segments: [] };
  decodeFields(v, where, ['fnode', 'segments'], (field, value, path) => {
    if (field === 'fnode') node.fnode = decodeInt64(value, path, node.fnode);
    else node.segments = decodeArray(value, path, decodeSegment);
  });
  return node;
}

function decodeProperty(v: JSONValue, where: string): Property {
  const p: Property = { path: '', content: '' };
  decodeFields(v, where, ['path', 'content'], (field, value, path) => {
    if (field === 'path') p.path = decodeString(value, path, p.path);
    else p.content = decodeString(value, path, p.content);
  });
  return p;
}

function decodeDirectory(v: JSONValue, where: string): DirectoryOp {
  const d: DirectoryOp = { path: '', mode: 0 };
  decodeFields(v, where, ['path', 'mode'], (field, value, path) => {
    if (field === 'path') d.path = decodeString(value, path, d.path);
    else d.mode = decodeUint32(value, path, d.mode);
  });
  return d;
}

/**
 * Parses hints JSON as Go's decoder would: keys match case-insensitively, unknown keys are
 * ignored, missing fields and `null` are zero values (so `null` arrays become `[]`). Wrong types
 * and numbers that are not exact safe integers throw HintsDecodeError naming the field.
 */
export function hintsFromJSON(text: string): FSMHints {
  let root: JSONValue;
  try {
    root = JSON.parse(text) as JSONValue;
  } catch (err) {
    throw new HintsDecodeError('json', `malformed JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
  const h: FSMHints = { log: '', liveNodes: [], properties: [] };
  if (root !== null && (typeof root !== 'object' || Array.isArray(root))) {
    throw typeError('(top level)', 'an object', root);
  }
  let directories: DirectoryOp[] = [];
  const fields = ['log', 'live_nodes', 'properties', 'directories'];
  decodeFields(root, '', fields, (field, value, path) => {
    if (field === 'log') h.log = decodeString(value, path, h.log);
    else if (field === 'live_nodes') h.liveNodes = decodeArray(value, path, decodeFnodeSegments);
    else if (field === 'properties') h.properties = decodeArray(value, path, decodeProperty);
    else directories = decodeArray(value, path, decodeDirectory);
  });
  if (directories.length > 0) h.directories = directories;
  return h;
}

/** Serialises hints in the chosen stored form (JSON as Gazette writes it today, or protobuf). */
export function encodeHints(h: FSMHints, format: HintsFormat): Uint8Array {
  return format === 'json' ? new TextEncoder().encode(hintsToJSON(h)) : encodeFSMHints(h);
}

/**
 * Decodes stored hints: bytes starting with `{` are JSON, anything else protobuf (Gazette's
 * rule). Every failure is a HintsDecodeError (the parser's error is its `cause`).
 */
export function decodeHints(bytes: Uint8Array): FSMHints {
  if (bytes.length > 0 && bytes[0] === 0x7b) {
    // Go keeps invalid UTF-8 in strings as U+FFFD when decoding JSON; the lenient decoder agrees.
    return hintsFromJSON(new TextDecoder('utf-8').decode(bytes));
  }
  try {
    return decodeFSMHints(bytes);
  } catch (err) {
    if (err instanceof HintsDecodeError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new HintsDecodeError('protobuf', detail, { cause: err });
  }
}
