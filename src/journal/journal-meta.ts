/**
 * `DIR/journal.json`, the file journal's metadata: format tag, version and journal name. Written
 * once at creation (temp file, fsync, rename, directory fsync), so its presence marks a complete
 * journal; read and validated on every open.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../errors.js';
import { journalNameProblem } from '../journal-name.js';
import {
  InvalidJournalNameError,
  JournalCorruptError,
  JournalNotFoundError,
  errorCode,
} from './errors.js';
import type { JournalStorage } from './storage.js';

export const META_FILE = 'journal.json';
export const FORMAT = 'recoverylog-file-journal';
/**
 * Version 3: fragments whose small commits carry their data inline (INLINE records). Version 2
 * (fragments, every commit's data in the data file) and version 1 (one data + one commits file)
 * are still read; the first writer upgrades them to 3, so that older readers refuse the journal
 * (with "unsupported format version") instead of misreading INLINE records.
 */
export const FORMAT_VERSION = 3;
/** Fragments without INLINE records. */
export const FRAGMENTS_FORMAT_VERSION = 2;
export const LEGACY_FORMAT_VERSION = 1;

/** Writes the metadata durably: temp file, fsync, rename into place (the caller fsyncs the dir). */
export async function writeMeta(storage: JournalStorage, dir: string, name: string): Promise<void> {
  const temp = join(dir, `${META_FILE}.tmp-${randomBytes(6).toString('hex')}`);
  const text = `${JSON.stringify({ format: FORMAT, version: FORMAT_VERSION, name })}\n`;
  const handle = await storage.open(temp, 'wx');
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await storage.rename(temp, join(dir, META_FILE));
}

/** Reads and validates the metadata: the journal name and the format version (1, 2 or 3). */
export async function readMeta(
  storage: JournalStorage,
  dir: string,
): Promise<{ name: string; version: number }> {
  const path = join(dir, META_FILE);
  let bytes: Buffer;
  try {
    bytes = await storage.readFile(path);
  } catch (error) {
    throw await notFound(storage, dir, path, error);
  }
  const text = bytes.toString('utf8');
  const invalidUtf8At = firstDifference(bytes, Buffer.from(text, 'utf8'));
  if (invalidUtf8At !== -1) {
    throw new JournalCorruptError(path, invalidUtf8At, 'not valid UTF-8');
  }
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (error) {
    const at = jsonSyntaxErrorIndex(text);
    throw new JournalCorruptError(
      path,
      Buffer.byteLength(text.slice(0, Math.max(at, 0))),
      `not valid JSON (${errorMessage(error)})`,
      error,
    );
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new JournalCorruptError(path, 0, 'expected a JSON object');
  }
  const { format, version, name } = meta as Record<string, unknown>;
  if (format !== FORMAT) {
    throw new JournalCorruptError(
      path,
      0,
      `not a file journal (format ${JSON.stringify(format)}, expected ${JSON.stringify(FORMAT)})`,
    );
  }
  if (
    version !== FORMAT_VERSION &&
    version !== FRAGMENTS_FORMAT_VERSION &&
    version !== LEGACY_FORMAT_VERSION
  ) {
    throw new JournalCorruptError(
      path,
      0,
      `unsupported format version ${JSON.stringify(version)} (this library reads versions ` +
        `${LEGACY_FORMAT_VERSION} to ${FORMAT_VERSION}); use the recoverylog version that wrote it`,
    );
  }
  if (typeof name !== 'string') {
    throw new JournalCorruptError(path, 0, 'the "name" field is missing or not a string');
  }
  const problem = journalNameProblem(name);
  if (problem !== undefined) throw new InvalidJournalNameError(name, problem, path);
  return { name, version: version as number };
}

async function notFound(
  storage: JournalStorage,
  dir: string,
  path: string,
  error: unknown,
): Promise<Error> {
  if (errorCode(error) !== 'ENOENT' && errorCode(error) !== 'ENOTDIR') return error as Error;
  try {
    const info = await storage.stat(dir);
    if (!info.isDirectory()) return new JournalNotFoundError(dir, 'it is not a directory', error);
  } catch (statError) {
    return new JournalNotFoundError(dir, 'the directory does not exist', statError);
  }
  return new JournalNotFoundError(
    dir,
    `${META_FILE} is missing (if the directory holds other journal files, a create was ` +
      'interrupted: remove the directory first)',
    error,
  );
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < length; i += 1) if (a[i] !== b[i]) return i;
  return a.byteLength === b.byteLength ? -1 : length;
}

/**
 * Index of the first character where `text` stops being valid JSON (V8's messages do not always
 * carry a position), or -1 when it is valid.
 */
export function jsonSyntaxErrorIndex(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxAt(i);
  };
  const whitespace = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i += 1;
  };
  const literal = (word: string): void => {
    for (const ch of word) {
      if (text.charAt(i) !== ch) fail();
      i += 1;
    }
  };
  const string = (): void => {
    i += 1; // opening quote
    while (i < text.length) {
      const ch = text.charAt(i);
      if (ch === '"') {
        i += 1;
        return;
      }
      if (ch === '\\') {
        const escape = text.charAt(i + 1);
        if (escape !== '' && '"\\/bfnrt'.includes(escape)) i += 2;
        else if (escape === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else {
          i += 1;
          fail();
        }
        continue;
      }
      if (ch < ' ') fail();
      i += 1;
    }
    fail();
  };
  const numberPattern = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (): void => {
    whitespace();
    const ch = text.charAt(i);
    if (ch === '{' || ch === '[') {
      const close = ch === '{' ? '}' : ']';
      i += 1;
      whitespace();
      if (text.charAt(i) === close) {
        i += 1;
        return;
      }
      for (;;) {
        if (ch === '{') {
          whitespace();
          if (text.charAt(i) !== '"') fail();
          string();
          whitespace();
          if (text.charAt(i) !== ':') fail();
          i += 1;
        }
        value();
        whitespace();
        if (text.charAt(i) === ',') {
          i += 1;
          continue;
        }
        if (text.charAt(i) === close) {
          i += 1;
          return;
        }
        fail();
      }
    }
    if (ch === '"') return string();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    numberPattern.lastIndex = i;
    if (!numberPattern.test(text)) fail();
    i = numberPattern.lastIndex;
  };
  try {
    value();
    whitespace();
    if (i < text.length) fail();
    return -1;
  } catch (error) {
    if (error instanceof SyntaxAt) return error.index;
    throw error;
  }
}

class SyntaxAt {
  constructor(readonly index: number) {}
}
