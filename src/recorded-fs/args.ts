/**
 * Argument handling shared by RecordedFs and its handles, done before anything is touched: paths
 * (string, Buffer or file: URL, as Node accepts them), options objects as Node's getOptions reads
 * them, and data to write: every ArrayBufferView (any typed array, DataView) as its exact bytes.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotSupportedError } from '../recorder-errors.js';
import { hasLoneSurrogate } from '../wire/byte-string.js';
import { checkAborted, invalidArgType, invalidArgValue, outOfRange } from './node-errors.js';

/** The bytes of any ArrayBufferView (not its elements): what Node writes for it. */
export function viewBytes(data: ArrayBufferView): Uint8Array {
  return data instanceof Uint8Array
    ? data
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function isView(value: unknown): value is ArrayBufferView {
  return ArrayBuffer.isView(value);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A path argument of a call that changes the file system, as an absolute string: Buffers must be
 * UTF-8 (the log records names as strings), URLs must be file: URLs, relative paths are resolved
 * against the working directory as the operating system does.
 */
export function mutationPath(path: unknown, name = 'path'): string {
  let text: string;
  if (typeof path === 'string') {
    text = path;
  } else if (path instanceof URL) {
    if (path.protocol !== 'file:') {
      const err = new TypeError('The URL must be of scheme file');
      Object.defineProperty(err, 'code', { value: 'ERR_INVALID_URL_SCHEME', enumerable: true });
      throw err;
    }
    text = fileURLToPath(path);
  } else if (path instanceof Uint8Array) {
    try {
      text = strictUtf8.decode(path);
    } catch {
      throw new NotSupportedError(
        'a path that is not UTF-8',
        'a recovery log records names as UTF-8 strings',
      );
    }
  } else {
    throw invalidArgType(name, 'of type string or an instance of Buffer or URL', path);
  }
  if (hasLoneSurrogate(text)) {
    // The file system would store U+FFFD in its place, and the log the escaped byte.
    throw new NotSupportedError(
      'a path with a lone UTF-16 surrogate',
      'it has no UTF-8 form: the file system would name the file with U+FFFD instead',
    );
  }
  if (text.includes('\0')) {
    throw invalidArgValue(name, text, 'must be a string, Uint8Array, or URL without null bytes');
  }
  return resolve(text);
}

export interface Options {
  encoding?: BufferEncoding | 'buffer' | null;
  flag?: string | number;
  mode?: number | string;
  signal?: AbortSignal;
  flush?: boolean;
}

/** Node's getOptions: null/undefined -> defaults, a string -> an encoding, else an object. */
export function getOptions<T extends Options>(options: unknown, defaults: T): T {
  if (options === null || options === undefined || typeof options === 'function') {
    return { ...defaults };
  }
  let out: T;
  if (typeof options === 'string') {
    out = { ...defaults, encoding: options as BufferEncoding };
  } else if (typeof options === 'object') {
    out = options as T;
  } else {
    throw invalidArgType('options', 'of type string or an instance of Object', options);
  }
  const encoding = out.encoding;
  if (encoding && encoding !== 'buffer' && !Buffer.isEncoding(encoding)) {
    throw invalidArgValue('encoding', encoding, 'is invalid encoding');
  }
  if (out.signal !== undefined && !(out.signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', out.signal);
  }
  if (out.flush !== undefined && typeof out.flush !== 'boolean') {
    throw invalidArgType('options.flush', 'of type boolean', out.flush);
  }
  return out;
}

/** Something that can be iterated over, synchronously or not (and is not a string). */
function isCustomIterable(value: unknown): value is Iterable<unknown> | AsyncIterable<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    (typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}

/** Data writeFile accepts: its bytes at once, or chunks read from an (async) iterable. */
export type WriteSource = Uint8Array | AsyncIterable<Uint8Array>;

/**
 * Validates writeFile/appendFile `data` as Node does, before anything is opened: a string (in
 * `encoding`), any ArrayBufferView (its bytes), or an (async) iterable such as a Readable stream,
 * whose chunks are converted as Node converts them, one by one, while they are written.
 */
export function writeSource(
  data: unknown,
  encoding: BufferEncoding | 'buffer' | null | undefined,
  signal?: AbortSignal,
): WriteSource {
  const enc: BufferEncoding = encoding && encoding !== 'buffer' ? encoding : 'utf8';
  if (isView(data)) return viewBytes(data);
  if (typeof data === 'string') return Buffer.from(data, enc);
  if (!isCustomIterable(data)) {
    throw invalidArgType(
      'data',
      'of type string or an instance of Buffer, TypedArray, or DataView',
      data,
    );
  }
  return (async function* chunks() {
    for await (const chunk of data as AsyncIterable<unknown>) {
      checkAborted(signal);
      yield isView(chunk) ? viewBytes(chunk) : Buffer.from(chunk as string, enc);
    }
  })();
}

/** `data` for FileHandle.write / fs.write: a string or an ArrayBufferView. */
export function checkWriteData(data: unknown): asserts data is string | ArrayBufferView {
  if (typeof data !== 'string' && !isView(data)) {
    throw invalidArgType(
      'buffer',
      'of type string or an instance of Buffer, TypedArray, or DataView',
      data,
    );
  }
}

/**
 * A write or read position as Node reads it: a non-negative integer (number or bigint), or null
 * (the handle's position) for anything else, -1 included.
 */
export function positionArg(position: unknown): number | null {
  if (typeof position === 'bigint') position = Number(position);
  if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) return null;
  return position;
}

/** The offset and length of a read or write in a buffer of `size` bytes, checked as Node does. */
export function checkOffsetLength(
  offset: unknown,
  length: unknown,
  size: number,
): [number, number] {
  const off = offset === null || offset === undefined ? 0 : offset;
  if (typeof off !== 'number' || !Number.isInteger(off)) {
    throw invalidArgType('offset', 'of type number', off);
  }
  if (off < 0 || off > size) throw outOfRange('offset', `>= 0 && <= ${size}`, off);
  const len = typeof length === 'number' ? length : size - off;
  if (!Number.isInteger(len) || len < 0 || off + len > size) {
    throw outOfRange('length', `>= 0 && <= ${size - off}`, len);
  }
  return [off, len];
}

export interface ReadArgs {
  buffer?: ArrayBufferView;
  offset?: number | null;
  length?: number | null;
  position?: number | bigint | null;
}

/**
 * FileHandle.read's arguments, in any of its forms: `(buffer, offset?, length?, position?)`,
 * `(buffer, options)`, `(options)` or `()` (a new 16 KiB buffer).
 */
export function readArgs(
  first: unknown,
  a?: number | null | ReadArgs,
  b?: number | null,
  c?: number | bigint | null,
): ReadArgs & { buffer: ArrayBufferView } {
  if (isView(first)) {
    return typeof a === 'object' && a !== null
      ? { ...a, buffer: first }
      : { buffer: first, offset: a, length: b, position: c };
  }
  if (first !== undefined && first !== null && typeof first !== 'object') {
    throw invalidArgType('options', 'of type object', first);
  }
  const args: ReadArgs = { ...(first ?? {}) };
  args.buffer ??= Buffer.alloc(16384);
  if (!isView(args.buffer)) throw invalidArgType('buffer', 'an ArrayBufferView', args.buffer);
  return args as ReadArgs & { buffer: ArrayBufferView };
}

/** Waits for a file's own sync and the log's barrier, side by side; the file's error first. */
export async function bothDurable(
  fileSync: Promise<void>,
  barrier: Promise<unknown>,
): Promise<void> {
  const [file, log] = await Promise.allSettled([fileSync, barrier]);
  if (file.status === 'rejected') throw file.reason;
  if (log.status === 'rejected') throw log.reason;
}
