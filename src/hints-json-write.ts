/**
 * FSMHints as the JSON text Go's `encoding/json` writes for Gazette's struct tags
 * (recorded_op.pb.go), byte for byte. Pure: no I/O.
 */
import { malformedString } from './wire/errors.js';
import type { FSMHints, Segment } from './wire/types.js';

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
