/**
 * FSMHints from JSON, read as tolerantly as Go's `encoding/json` reads Gazette's struct tags, but
 * refusing numbers a JS number cannot hold exactly. Pure: no I/O.
 */
import { errorMessage } from './errors.js';
import { HintsDecodeError } from './hints-errors.js';
import type { DirectoryOp, FnodeSegments, FSMHints, Property, Segment } from './wire/types.js';

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
type NumberDecoder = (value: JSONValue, path: string, current: number) => number;
const decodeInt64: NumberDecoder = (value: JSONValue, path: string, current: number): number => {
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
const decodeUint32: NumberDecoder = (value: JSONValue, path: string, current: number): number => {
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

/** A Segment's JSON keys, in Go's struct order, with the field and the decoder of each number. */
const SEGMENT_NUMBERS: Readonly<
  Record<string, readonly [Exclude<keyof Segment, 'log'>, NumberDecoder]>
> = {
  author: ['author', decodeUint32],
  first_seq_no: ['firstSeqNo', decodeInt64],
  first_offset: ['firstOffset', decodeInt64],
  first_checksum: ['firstChecksum', decodeUint32],
  last_seq_no: ['lastSeqNo', decodeInt64],
  last_offset: ['lastOffset', decodeInt64],
};
const SEGMENT_FIELDS = [...Object.keys(SEGMENT_NUMBERS), 'log'];

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
  decodeFields(v, where, SEGMENT_FIELDS, (field, value, path) => {
    if (field === 'log') {
      s.log = decodeString(value, path, s.log);
    } else {
      const [key, decode] = SEGMENT_NUMBERS[field]!;
      s[key] = decode(value, path, s[key]);
    }
  });
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
    throw new HintsDecodeError('json', `malformed JSON (${errorMessage(err)})`, {
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
