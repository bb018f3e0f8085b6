/**
 * `recoverylog import` and `recoverylog export`: move a recovery log between a FileJournal and a
 * raw byte file (the form a Gazette fragment holds it in), byte for byte, streaming so that a
 * multi-gigabyte log never sits in memory.
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { RecoveryLogError } from '../errors.js';
import { syncDir } from '../durable-file.js';
import { FileJournal } from '../journal/file.js';
import type { Journal } from '../journal/journal.js';
import { parseArgs, UsageError, type Verb } from './args.js';
import { createProgress, formatBytes } from './progress.js';
import { openReadOnly } from './read-only.js';

/** Bytes per journal append on import and per read on export. */
export const TRANSFER_CHUNK = 8 * 1024 * 1024;

/** The import or export target cannot be used as asked. */
export class TransferTargetError extends RecoveryLogError {
  readonly path: string;
  constructor(path: string, detail: string) {
    super('TransferTarget', `${path}: ${detail}`);
    this.path = path;
  }
}

/** The journal's content ends, or skips, before the head it reported. */
export class JournalContentError extends RecoveryLogError {
  readonly log: string;
  readonly offset: number;
  constructor(log: string, offset: number, detail: string) {
    super(
      'JournalContent',
      `journal ${log} at offset ${offset}: ${detail}; the journal is damaged, so the export ` +
        'was not written',
    );
    this.log = log;
    this.offset = offset;
  }
}

export interface TransferProgress {
  /** Called with the bytes moved so far (and the total, when known). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Creates a FileJournal in `dir` named `name` and lets `fill` append to it. The journal is built
 * in a temporary sibling directory and renamed into place only when `fill` succeeded, so `dir`
 * never holds a half-built log (a failure removes the temporary directory). `dir` must not
 * exist or be an empty directory.
 */
export async function withNewJournal<T>(
  dir: string,
  name: string,
  fill: (journal: FileJournal) => Promise<T>,
): Promise<T> {
  const target = resolve(dir);
  await assertUsableTarget(target);
  await mkdir(dirname(target), { recursive: true });
  const staging = await mkdtemp(join(dirname(target), `.${basename(target)}.building-`));
  let moved = false;
  try {
    const journal = await FileJournal.create(staging, name);
    let result: T;
    try {
      result = await fill(journal);
    } finally {
      await journal.close();
    }
    await rename(staging, target);
    moved = true;
    await syncDir(dirname(target));
    return result;
  } finally {
    if (!moved) await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Creates a FileJournal in `dir` named `name` whose content is exactly the bytes of `source`
 * (see withNewJournal for where it is built). Returns the number of bytes imported.
 */
export async function importJournal(
  source: string,
  dir: string,
  name: string,
  options: TransferProgress = {},
): Promise<number> {
  const total = (await stat(source)).size;
  return withNewJournal(dir, name, async (journal) => {
    let imported = 0;
    // One pending append at a time: each chunk is durable before the next is read, and memory
    // stays at one chunk however large the file.
    for await (const chunk of createReadStream(source, { highWaterMark: TRANSFER_CHUNK })) {
      const bytes = chunk as Buffer;
      const { end } = await journal.append(bytes);
      imported += bytes.length;
      if (end !== imported) {
        throw new JournalContentError(name, end, `expected the head at ${imported}`);
      }
      options.onProgress?.(imported, total);
    }
    return imported;
  });
}

async function assertUsableTarget(target: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new TransferTargetError(target, 'exists and is not a directory');
    throw err;
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
 * byte-exact. The file is written under a temporary name, fsynced, then renamed over `out`, so a
 * reader never sees a partial export. Returns the number of bytes exported.
 */
export async function exportJournal(
  journal: Journal,
  out: string,
  options: TransferProgress = {},
): Promise<number> {
  const target = resolve(out);
  const head = await journal.head();
  const temp = `${target}.tmp-${process.pid}-${Date.now().toString(36)}`;
  const file = await open(temp, 'wx');
  let renamed = false;
  try {
    try {
      await copyJournal(
        journal,
        head,
        async (bytes) => {
          let written = 0;
          while (written < bytes.length) {
            const { bytesWritten } = await file.write(bytes, written, bytes.length - written);
            written += bytesWritten;
          }
        },
        options,
      );
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
    renamed = true;
    await syncDir(dirname(target));
  } finally {
    if (!renamed) await rm(temp, { force: true });
  }
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
    const result = await journal.read(offset, {
      blocking: false,
      maxBytes: Math.min(TRANSFER_CHUNK, head - offset),
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
    'Usage: recoverylog import --raw FILE --log DIR --name NAME',
    '',
    'Creates a file journal in DIR, named NAME, whose content is exactly the bytes of FILE (a',
    'raw Gazette-format recovery log, e.g. a Gazette fragment or the output of `export`). The',
    'file is streamed in chunks; the journal appears in DIR only once it is complete.',
    '',
    'Options:',
    '  --raw FILE   the raw log bytes to import',
    '  --log DIR    the journal directory to create (must not exist, or be empty)',
    '  --name NAME  the journal name (Gazette journal-name rules, e.g. "app/shard-000/recovery")',
    '',
    'Exit status: 0 imported; 1 on failure (FILE unreadable, DIR in use, bad NAME); 2 on a',
    'usage error.',
  ].join('\n'),
  async run(argv: string[]): Promise<number> {
    const { flags, positionals } = parseArgs(argv, IMPORT_FLAGS);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const raw = required(flags.raw, '--raw FILE');
    const log = required(flags.log, '--log DIR');
    const name = required(flags.name, '--name NAME');
    const progress = createProgress({ label: `importing ${raw}` });
    let bytes: number;
    try {
      bytes = await importJournal(raw, log, name, { onProgress: (d, t) => progress.update(d, t) });
    } finally {
      progress.finish();
    }
    process.stdout.write(
      `imported ${bytes} bytes (${formatBytes(bytes)}) from ${raw} into journal ${name} at ${resolve(log)}\n`,
    );
    return 0;
  },
};

const EXPORT_FLAGS = {
  log: { type: 'string' },
  out: { type: 'string' },
} as const;

export const exportVerb: Verb = {
  summary: 'write a file journal out as a raw recovery-log byte file',
  usage: [
    'Usage: recoverylog export --log DIR --out FILE',
    '',
    'Writes the committed content of the file journal in DIR (offset 0 to its write head) to',
    'FILE, byte for byte, as a Gazette fragment holds a log. FILE is written under a temporary',
    'name, fsynced and renamed into place, so it is never seen half-written.',
    '',
    'Options:',
    '  --log DIR    the journal directory',
    '  --out FILE   the file to write (replaced if it exists)',
    '',
    'Exit status: 0 exported; 1 on failure; 2 on a usage error.',
  ].join('\n'),
  async run(argv: string[]): Promise<number> {
    const { flags, positionals } = parseArgs(argv, EXPORT_FLAGS);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const log = required(flags.log, '--log DIR');
    const out = required(flags.out, '--out FILE');
    const journal = await openReadOnly(log);
    const progress = createProgress({ label: `exporting ${journal.name}` });
    let bytes: number;
    try {
      bytes = await exportJournal(journal, out, { onProgress: (d, t) => progress.update(d, t) });
    } finally {
      progress.finish();
      await journal.close();
    }
    process.stdout.write(
      `exported ${bytes} bytes (${formatBytes(bytes)}) of journal ${journal.name} to ${resolve(out)}\n`,
    );
    return 0;
  },
};

/** The value of a required flag, or a UsageError naming it. */
export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${flag}`);
  return value;
}
