/**
 * Byte strings: how a proto `string` field that is not UTF-8 is held in a JS string, exactly.
 *
 * Gazette's paths and property contents are proto strings, but Go writes (and plays) arbitrary
 * bytes in them. We keep such a field as a string in which every byte that is not part of a
 * valid UTF-8 sequence is the lone surrogate U+DC00 + byte (U+DC80..U+DCFF; the scheme Python
 * calls "surrogateescape"). Valid UTF-8 decodes as usual, and never to a lone surrogate, so the
 * mapping is one-to-one: equal strings are equal bytes (the FSM keys paths by them), and encoding
 * gives back the exact bytes read. Such a string is only ever turned into bytes by this module
 * (never by a UTF-8 encoder, which would write U+FFFD): `toFsPath` for the file system.
 */
import { malformedString } from './errors.js';

/** Strict UTF-8, for the common case (everything valid). */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Whether `s` holds an escaped byte (U+DC80..U+DCFF not preceded by a high surrogate). */
export function hasEscapedBytes(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff) {
      i++; // a high surrogate: the pair is a character (a lone one is no byte string)
      continue;
    }
    if (c >= 0xdc80) return true;
  }
  return false;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 (Unicode Table 3-7). */
function sequenceLength(bytes: Uint8Array, i: number, end: number): number {
  const b = bytes[i]!;
  if (b < 0x80) return 1;
  const cont = (at: number, lo = 0x80, hi = 0xbf): boolean =>
    at < end && bytes[at]! >= lo && bytes[at]! <= hi;
  if (b >= 0xc2 && b <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    const lo = b === 0xe0 ? 0xa0 : 0x80;
    const hi = b === 0xed ? 0x9f : 0xbf; // no surrogates
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    const lo = b === 0xf0 ? 0x90 : 0x80;
    const hi = b === 0xf4 ? 0x8f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

/** Decodes `bytes[start, end)`: UTF-8, with each byte of an invalid sequence escaped. */
export function decodeByteString(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const view = bytes.subarray(start, end);
  try {
    return UTF8.decode(view);
  } catch {
    // Some bytes are not UTF-8: walk the sequences.
  }
  let out = '';
  let i = 0;
  while (i < view.length) {
    const n = sequenceLength(view, i, view.length);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + view[i]!);
      i++;
    } else {
      out += UTF8.decode(view.subarray(i, i + n));
      i += n;
    }
  }
  return out;
}

/**
 * The bytes of a byte string: UTF-8, escaped bytes as themselves. A lone surrogate that is not an
 * escaped byte has no byte form: InvalidArgumentError (reason StringField) naming `field`.
 */
export function encodeByteString(s: string, field = 'string'): Uint8Array {
  if (!hasLoneSurrogate(s)) return Buffer.from(s, 'utf8');
  const parts: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const low = s.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        for (const b of Buffer.from(s.slice(i, i + 2), 'utf8')) parts.push(b);
        i++;
        continue;
      }
    } else if (c >= 0xdc80 && c <= 0xdcff) {
      parts.push(c - 0xdc00);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      throw malformedString(field, `lone UTF-16 surrogate at index ${i}`);
    }
    for (const b of Buffer.from(s[i]!, 'utf8')) parts.push(b);
  }
  return Uint8Array.from(parts);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `s` has a lone surrogate (an escaped byte, or something no bytes can express). */
export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}

/** A path for the file system: the string itself, or its exact bytes when it holds escapes. */
export function toFsPath(s: string): string | Buffer {
  return hasEscapedBytes(s) ? Buffer.from(encodeByteString(s, 'path')) : s;
}

/**
 * A byte string for people: quoted as JSON would, except that escaped bytes show as \xNN
 * (JSON.stringify would show \udcNN).
 */
export function displayByteString(s: string): string {
  let out = '"';
  let run = 0; // start of the current run of characters JSON.stringify quotes
  const flush = (i: number): void => {
    if (i > run) out += JSON.stringify(s.slice(run, i)).slice(1, -1);
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      i++;
      continue;
    }
    if (c < 0xdc80 || c > 0xdcff) continue;
    flush(i);
    out += `\\x${(c - 0xdc00).toString(16)}`;
    run = i + 1;
  }
  flush(s.length);
  return out + '"';
}
