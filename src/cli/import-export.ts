/**
 * `recoverylog import` and `recoverylog export`: move a recovery log between a FileJournal and a
 * raw byte file (the form a Gazette fragment holds it in), byte for byte, streaming so that a
 * multi-gigabyte log never sits in memory. "-" is standard input (import) or output (export).
 * Both are interruptible (SIGINT/SIGTERM): the half-built journal or file is removed.
 */
import { mkdir, open, readdir, rename } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { errorCode, RecoveryLogError } from '../errors.js';
import { syncDir } from '../durable-file.js';
import { FileJournal } from '../journal/file.js';
import type { Journal } from '../journal/journal.js';
import { parseFlags, required, type Verb } from './args.js';
import { asFileError, onFile } from './file-errors.js';
import {
  assertReplaceableOutput,
  InputIsTerminalError,
  OutputIsTerminalError,
  STDOUT,
  writeAll,
  writeOutputFile,
  writeToStream,
  type OutputStream,
} from './output.js';
import { cleanStalePartials, createPartialDir, removePartial, untrackPartial } from './partial.js';
import { createProgress, formatBytes } from './progress.js';
import { checkLogOrJournal, JOURNAL_FLAG_HELP, openLogOrJournal } from './journal-url.js';
import { interruption, quietContext, throwIfInterrupted } from './signals.js';

/** The raw-file path that means standard input. */
export const STDIN = '-';

/** Bytes per journal append on import and per read on export. */
export const TRANSFER_CHUNK = 8 * 1024 * 1024;

/** The import or export target cannot be used as asked. */
export class TransferTargetError extends RecoveryLogError {
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`${path}: ${detail}`);
    this.path = path;
  }
}

/** The journal's content ends, or skips, before the head it reported. */
export class JournalContentError extends RecoveryLogError {
  readonly log: string;
  readonly offset: number;
  constructor(log: string, offset: number, detail: string) {
    super(
      `journal ${log} at offset ${offset}: ${detail}; the journal is damaged, so the export ` +
        'was not written',
    );
    this.log = log;
    this.offset = offset;
  }
}

export interface TransferProgress {
  /** Called with the bytes moved so far (and the total, when known; 0 when not). */
  onProgress?: (done: number, total: number) => void;
  /** Aborting stops the transfer; what it had half written is removed. */
  signal?: AbortSignal;
}

/**
 * Creates a FileJournal in `dir` named `name` and lets `fill` append to it. The journal is built
 * in a partial-output directory next to `dir` (partial.ts) and renamed into place only when
 * `fill` succeeded, so `dir` never holds a half-built log: a failure or an interruption removes
 * the partial directory, and stale ones left by killed runs are removed first. `dir` must not
 * exist or be an empty directory.
 */
export async function withNewJournal<T>(
  dir: string,
  name: string,
  fill: (journal: FileJournal) => Promise<T>,
  options: { signal?: AbortSignal } = {},
): Promise<T> {
  const target = resolve(dir);
  const parent = dirname(target);
  await assertUsableTarget(target);
  await onFile('create the directory', parent, () => mkdir(parent, { recursive: true }), '--log');
  await cleanStalePartials(parent);
  throwIfInterrupted(options.signal);
  const staging = await onFile(
    'create a directory in',
    parent,
    () => createPartialDir(target, 0o700),
    '--log',
  );
  let moved = false;
  try {
    const journal = await FileJournal.create(staging, name);
    let result: T;
    try {
      result = await fill(journal);
    } finally {
      await journal.close();
    }
    throwIfInterrupted(options.signal);
    await onFile('move the finished journal to', target, () => rename(staging, target), '--log');
    moved = true;
    untrackPartial(staging);
    await onFile('fsync the directory', parent, () => syncDir(parent), '--log');
    return result;
  } finally {
    if (!moved) await removePartial(staging);
  }
}

/** Yields the bytes of `chunks` in pieces of at least `size` bytes (the last may be shorter). */
export async function* rechunk(
  chunks: AsyncIterable<Uint8Array>,
  size: number,
): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of chunks) {
    parts.push(chunk);
    length += chunk.length;
    if (length >= size) {
      yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
      parts = [];
      length = 0;
    }
  }
  if (length > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
}

/**
 * Creates a FileJournal in `dir` named `name` whose content is exactly the bytes of `source` (a
 * file path, "-" for standard input, or a readable stream); see withNewJournal for where it is
 * built. Returns the number of bytes imported.
 */
export async function importJournal(
  source: string | Readable,
  dir: string,
  name: string,
  options: TransferProgress = {},
): Promise<number> {
  const { signal } = options;
  const fromFile = typeof source === 'string' && source !== STDIN;
  const label = fromFile ? resolve(source) : 'standard input';
  // Opened first: an unreadable input fails before anything is created.
  const file = fromFile ? await onFile('read', label, () => open(label, 'r'), '--raw') : undefined;
  try {
    const total = file === undefined ? 0 : (await file.stat()).size;
    return await withNewJournal(
      dir,
      name,
      async (journal) => {
        const input: Readable =
          file !== undefined
            ? file.createReadStream({ highWaterMark: TRANSFER_CHUNK, autoClose: false })
            : typeof source === 'string'
              ? process.stdin
              : source;
        // Aborting destroys the stream, so a read waiting for input (a quiet pipe) ends too.
        if (signal !== undefined) addAbortSignal(signal, input);
        let imported = 0;
        try {
          // One pending append at a time: each chunk is durable before the next is read, and
          // memory stays at about one chunk however large the input.
          for await (const bytes of rechunk(input, TRANSFER_CHUNK)) {
            throwIfInterrupted(signal);
            const { end } = await journal.append(bytes, { signal });
            imported += bytes.length;
            if (end !== imported) {
              throw new JournalContentError(name, end, `expected the head at ${imported}`);
            }
            options.onProgress?.(imported, total);
          }
        } catch (err) {
          if (signal?.aborted === true) throw interruption(signal);
          throw asFileError(err, 'read', label, '--raw');
        }
        return imported;
      },
      { signal },
    );
  } finally {
    await file?.close();
  }
}

async function assertUsableTarget(target: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(target);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new TransferTargetError(target, 'exists and is not a directory');
    throw asFileError(err, 'read the directory', target, '--log');
  }
  if (entries.length > 0) {
    throw new TransferTargetError(
      target,
      'already exists and is not empty; import creates a new journal: choose a new --log ' +
        'directory or remove this one',
    );
  }
}

/**
 * Writes the committed content of `journal`, from offset 0 to its current head, to `out`,
 * byte-exact (see output.ts: a partial file, fsynced, renamed over `out`, which may only be a
 * regular file; a reader never sees a partial export). Returns the number of bytes exported.
 */
export async function exportJournal(
  journal: Journal,
  out: string,
  options: TransferProgress = {},
): Promise<number> {
  const head = await journal.head();
  await writeOutputFile(out, { flag: '--out', signal: options.signal }, (file) =>
    copyJournal(journal, head, (bytes) => writeAll(file, bytes), options),
  );
  return head;
}

/**
 * Writes the committed content of `journal` (offset 0 to its current head) to a stream such as
 * standard output, with backpressure. Returns the number of bytes exported.
 */
export async function exportJournalToStream(
  journal: Journal,
  stream: OutputStream,
  options: TransferProgress = {},
): Promise<number> {
  const head = await journal.head();
  await copyJournal(
    journal,
    head,
    (bytes) => writeToStream(stream, bytes, options.signal),
    options,
  );
  return head;
}

/** Streams bytes [0, head) of `journal` to `sink`, in order, checking there are no holes. */
export async function copyJournal(
  journal: Journal,
  head: number,
  sink: (bytes: Uint8Array) => Promise<void>,
  options: TransferProgress = {},
): Promise<void> {
  let offset = 0;
  while (offset < head) {
    throwIfInterrupted(options.signal);
    const result = await journal.read(offset, {
      blocking: false,
      maxBytes: Math.min(TRANSFER_CHUNK, head - offset),
      signal: options.signal,
    });
    if (result.offset !== offset) {
      throw new JournalContentError(
        journal.name,
        offset,
        `bytes ${offset}..${result.offset} are missing (the journal skipped ahead)`,
      );
    }
    const bytes = result.bytes.subarray(0, Math.min(result.bytes.length, head - offset));
    await sink(bytes);
    offset += bytes.length;
    options.onProgress?.(offset, head);
  }
}

const IMPORT_FLAGS = {
  raw: { type: 'string' },
  log: { type: 'string' },
  name: { type: 'string' },
} as const;

export const importVerb: Verb = {
  summary: 'make a new file journal from a raw recovery-log byte file',
  usage: [
    'Usage: recoverylog import --raw FILE|- --log DIR --name NAME',
    '',
    'Creates a file journal in DIR, named NAME, whose content is exactly the bytes of FILE (a',
    'raw Gazette-format recovery log, e.g. a Gazette fragment or the output of `export`), or',
    'of standard input with "--raw -". The input is streamed in chunks into a hidden partial',
    'directory next to DIR, renamed to DIR only once complete: DIR never holds a half-built',
    'journal. Partial directories left by killed runs are removed by later runs (see README).',
    '',
    'Options:',
    '  --raw FILE   the raw log bytes to import ("-" reads standard input, e.g. a pipe)',
    '  --log DIR    the journal directory to create (must not exist, or be empty)',
    '  --name NAME  the journal name (Gazette journal-name rules, e.g. "app/shard-000/recovery")',
    '',
    'Exit status: 0 imported; 1 on failure (FILE unreadable, DIR in use, bad NAME); 2 on a',
    'usage error; 130/143 when interrupted by SIGINT/SIGTERM (nothing is left behind).',
  ].join('\n'),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const flags = parseFlags(argv, IMPORT_FLAGS);
    const raw = required(flags.raw, '--raw FILE');
    const log = required(flags.log, '--log DIR');
    const name = required(flags.name, '--name NAME');
    if (raw === STDIN && process.stdin.isTTY === true) {
      throw new InputIsTerminalError(
        '--raw',
        'the raw log',
        '`recoverylog import --raw - ... < log.raw`',
      );
    }
    const from = raw === STDIN ? 'standard input' : raw;
    const progress = createProgress({ label: `importing ${from}` });
    let bytes: number;
    try {
      bytes = await importJournal(raw, log, name, {
        onProgress: (d, t) => progress.update(d, t),
        signal: context.signal,
      });
    } finally {
      progress.finish();
    }
    process.stdout.write(
      `imported ${bytes} bytes (${formatBytes(bytes)}) from ${from} into journal ${name} at ${resolve(log)}\n`,
    );
    return 0;
  },
};

const EXPORT_FLAGS = {
  log: { type: 'string' },
  journal: { type: 'string' },
  out: { type: 'string' },
} as const;

export const exportVerb: Verb = {
  summary: 'write a file journal out as a raw recovery-log byte file',
  usage: [
    'Usage: recoverylog export --log DIR --out FILE|-',
    '       recoverylog export --journal nats://HOST:PORT[,HOST:PORT...]/NAME --out FILE|-',
    '',
    'Writes the committed content of the file journal in DIR (offset 0 to its write head) to',
    'FILE, byte for byte, as a Gazette fragment holds a log, or to standard output with',
    '"--out -" (the summary then goes to standard error). FILE is written under a hidden',
    'partial name next to it, fsynced and renamed into place, so it is never seen half',
    'written; it may replace a regular file only: a symbolic link, FIFO, device, socket or',
    'directory at FILE is refused (exit 2) and left untouched.',
    '',
    'Options:',
    '  --log DIR        the journal directory',
    JOURNAL_FLAG_HELP,
    '  --out FILE|-     the file to write (a regular file there is replaced), or "-" for',
    '                   standard output (not a terminal)',
    '',
    'Exit status: 0 exported; 1 on failure; 2 on a usage error; 130/143 when interrupted by',
    'SIGINT/SIGTERM (the partial file is removed; FILE is untouched).',
  ].join('\n'),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const flags = parseFlags(argv, EXPORT_FLAGS);
    checkLogOrJournal(flags);
    const out = required(flags.out, '--out FILE');
    const toStdout = out === STDOUT;
    if (toStdout && process.stdout.isTTY === true) throw new OutputIsTerminalError('--out');
    if (!toStdout) await assertReplaceableOutput(out, '--out');
    const journal = await openLogOrJournal(flags, { readOnly: true });
    const progress = createProgress({ label: `exporting ${journal.name}` });
    const transfer: TransferProgress = {
      onProgress: (d, t) => progress.update(d, t),
      signal: context.signal,
    };
    let bytes: number;
    try {
      bytes = toStdout
        ? await exportJournalToStream(journal, process.stdout, transfer)
        : await exportJournal(journal, out, transfer);
    } finally {
      progress.finish();
      await journal.close();
    }
    const summary = `exported ${bytes} bytes (${formatBytes(bytes)}) of journal ${journal.name} to ${
      toStdout ? 'standard output' : resolve(out)
    }\n`;
    (toStdout ? process.stderr : process.stdout).write(summary);
    return 0;
  },
};
