/**
 * `recoverylog replicate --log DIR --journal nats://HOST:PORT/NAME [--follow]`: copies a file
 * journal's bytes to a JetStream journal of the same name, in the same byte order, so that the
 * log outlives the machine (Litestream's mode). Resumable: it starts at the JetStream journal's
 * head, after checking that the bytes below it are a prefix of the file journal (else
 * ReplicaDivergedError, nothing written). The file journal's registers ride along with each
 * append (with an `author` fence of the replicator's own when the file journal has none), and
 * each append checks that the replica's registers are still the ones it last set: once a Player
 * takes the replica over (`play --journal ... --handoff`), the replicator is fenced
 * (RegisterMismatchError) instead of appending after the hand-off.
 */
import { RecoveryLogError } from '../errors.js';
import { OffsetNotYetAvailableError } from '../journal/errors.js';
import type { FileJournal } from '../journal/file.js';
import type { JetStreamJournal } from '../journal/jetstream.js';
import type { Journal, Registers } from '../journal/journal.js';
import { parseFlags, required, UsageError, type Verb } from './args.js';
import { JOURNAL_FLAG_HELP, openJournalUrl, parseJournalUrl } from './journal-url.js';
import { openReadOnly } from './read-only.js';
import { quietContext, throwIfInterrupted } from './signals.js';

const CHUNK = 1024 * 1024;

/** The replica holds bytes that are not a prefix of the file journal: refusing to go on. */
export class ReplicaDivergedError extends RecoveryLogError {
  readonly offset: number;
  constructor(journal: string, offset: number, detail: string, appended = false) {
    super(
      `journal ${JSON.stringify(journal)}: the JetStream replica is not a prefix of the file ` +
        `journal (${detail}, at offset ${offset}); ` +
        (appended ? 'replication stopped. ' : 'nothing was appended. ') +
        'Replicate into a new journal, or remove the replica stream if it is yours to discard.',
    );
    this.offset = offset;
  }
}

/** The file journal no longer holds bytes the replica needs next (pruned below its head). */
export class ReplicaGapError extends RecoveryLogError {
  constructor(journal: string, wanted: number, available: number) {
    super(
      `journal ${JSON.stringify(journal)}: the replica needs bytes from offset ${wanted}, but ` +
        `the file journal holds them only from ${available} (pruned); replicate into a new ` +
        'journal from a snapshot instead',
    );
  }
}

async function readAt(journal: Journal, offset: number, blocking: boolean, signal?: AbortSignal) {
  try {
    return await journal.read(offset, { blocking, maxBytes: CHUNK, signal });
  } catch (error) {
    if (!blocking && error instanceof OffsetNotYetAvailableError) return undefined;
    throw error;
  }
}

/** Checks that the replica's bytes [its first offset, head) equal the file journal's. */
export async function assertReplicaPrefix(
  file: Journal,
  replica: Journal,
  replicaHead: number,
  signal?: AbortSignal,
): Promise<void> {
  const fileHead = await file.head();
  if (replicaHead > fileHead) {
    throw new ReplicaDivergedError(
      file.name,
      fileHead,
      `the replica's head ${replicaHead} is beyond the file journal's head ${fileHead}`,
    );
  }
  let offset = 0;
  while (offset < replicaHead) {
    throwIfInterrupted(signal);
    const r = await readAt(replica, offset, false, signal);
    if (r === undefined) break;
    offset = r.offset;
    let at = 0;
    while (at < r.bytes.byteLength) {
      const f = await readAt(file, offset + at, false, signal);
      if (f === undefined) {
        throw new ReplicaDivergedError(file.name, offset + at, 'the file journal ends first');
      }
      if (f.offset !== offset + at) {
        // Pruned from the file journal: nothing to compare there.
        at = Math.min(r.bytes.byteLength, f.offset - offset);
        if (at >= r.bytes.byteLength) break;
        continue;
      }
      const n = Math.min(f.bytes.byteLength, r.bytes.byteLength - at);
      for (let i = 0; i < n; i++) {
        if (f.bytes[i] !== r.bytes[at + i]) {
          throw new ReplicaDivergedError(file.name, offset + at + i, 'the bytes differ');
        }
      }
      at += n;
    }
    offset += r.bytes.byteLength;
  }
}

export interface ReplicateOptions {
  /** Keep tailing the file journal (blocking reads) until `signal` aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  /** Called after each append with the replica's head. */
  onProgress?: (head: number) => void;
}

export interface ReplicateResult {
  /** Where the replica's head was when this run started. */
  readonly from: number;
  /** The replica's head when it stopped. */
  readonly head: number;
}

/** The `author` register of a replica whose file journal has none (a fresh recorder sets none). */
export const REPLICATOR_FENCE = 'replicator';

/**
 * The registers the replicator sets on the replica: the file journal's, with an `author` fence
 * of its own when the file journal has none. Either way a Player's hand-off on the replica
 * replaces `author`, so the replicator's next append (checking the `author` it set) is fenced.
 */
function replicaRegisters(fileRegisters: Registers): Registers {
  return fileRegisters.author === undefined
    ? { ...fileRegisters, author: REPLICATOR_FENCE }
    : fileRegisters;
}

/**
 * Copies `file`'s bytes after the replica's head into `replica` (see the module comment). Without
 * `follow`, stops at the file journal's head as of each read; with it, waits for more until the
 * signal aborts (the rejection is the abort's reason; what was appended stays).
 */
export async function replicateJournal(
  file: Journal,
  replica: Journal,
  options: ReplicateOptions = {},
  progress: { head: number } = { head: 0 },
): Promise<ReplicateResult> {
  if (file.name !== replica.name) {
    throw new UsageError(
      `the JetStream journal must have the file journal's name ${JSON.stringify(file.name)} ` +
        `(hints name logs), not ${JSON.stringify(replica.name)}`,
    );
  }
  const from = await replica.head();
  progress.head = from;
  await assertReplicaPrefix(file, replica, from, options.signal);
  let expected = await replica.registers();
  let offset = from;
  for (;;) {
    throwIfInterrupted(options.signal);
    const r = await readAt(file, offset, options.follow === true, options.signal);
    if (r === undefined) break;
    if (r.offset !== offset) throw new ReplicaGapError(file.name, offset, r.offset);
    const union = replicaRegisters(await file.registers());
    const appended = await replica.append(r.bytes, {
      checkRegisters: Object.keys(expected).length === 0 ? undefined : expected,
      unionRegisters: union,
    });
    if (appended.begin !== offset) {
      throw new ReplicaDivergedError(
        file.name,
        appended.begin,
        `another writer appended to the replica: these bytes landed at ${appended.begin}, not ` +
          `${offset}; stop that writer`,
        true,
      );
    }
    expected = { ...expected, ...union };
    offset = appended.end;
    progress.head = offset;
    options.onProgress?.(offset);
  }
  return { from, head: offset };
}

const FLAGS = {
  log: { type: 'string' },
  journal: { type: 'string' },
  follow: { type: 'boolean' },
} as const;

export const replicateVerb: Verb = {
  summary: 'copy a file journal to a JetStream journal (resumable; --follow keeps tailing)',
  usage: [
    'Usage: recoverylog replicate --log DIR --journal nats://HOST:PORT[,HOST:PORT...]/NAME',
    '                             [--follow]',
    '',
    "Appends the file journal's bytes to the JetStream journal NAME (which must be the file",
    "journal's name; its stream is created when missing), in the same byte order. Resumable:",
    "it starts at the JetStream journal's head after checking that the bytes below it match",
    'the file journal (ReplicaDiverged otherwise: nothing is appended). The file journal is',
    "opened read-only (no lock: a Recorder may be writing it). The file journal's registers",
    'are copied along (with an author fence of the replicator when it has none), so a replica',
    'taken over by a Player (play --journal ... --handoff) fences the replicator',
    '(RegisterMismatch): it stops without appending after the hand-off.',
    '',
    'Options:',
    '  --log DIR        the file journal to copy',
    JOURNAL_FLAG_HELP,
    '  --follow         keep tailing the file journal until SIGINT/SIGTERM',
    '',
    'Exit status: 0 copied up to the head; 1 on failure (diverged replica, fenced, journal',
    'errors); 2 on a usage error; 130/143 on SIGINT/SIGTERM (what was appended stays, and a',
    'later run resumes from there).',
  ].join('\n'),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const flags = parseFlags(argv, FLAGS);
    const log = required(flags.log, '--log DIR');
    const url = required(flags.journal, '--journal nats://HOST:PORT/NAME');
    parseJournalUrl(url);
    const file: FileJournal = await openReadOnly(log);
    let replica: JetStreamJournal | undefined;
    const progress = { head: 0 };
    try {
      if (parseJournalUrl(url).name !== file.name) {
        throw new UsageError(
          `--journal names journal ${JSON.stringify(parseJournalUrl(url).name)}, but the ` +
            `file journal in ${log} is ${JSON.stringify(file.name)}; use the same name ` +
            '(hints name logs)',
        );
      }
      replica = await openJournalUrl(url, { readOnly: false });
      const result = await replicateJournal(
        file,
        replica,
        { follow: flags.follow, signal: context.signal },
        progress,
      );
      process.stdout.write(
        `replicated journal ${file.name}: ${result.head - result.from} bytes appended ` +
          `(offsets ${result.from}..${result.head}); the replica's head is ${result.head}\n`,
      );
      return 0;
    } catch (error) {
      if (context.signal?.aborted === true) {
        process.stderr.write(
          `replicate: stopped; the replica of ${file.name} holds offsets up to ${progress.head}\n`,
        );
      }
      throw error;
    } finally {
      await replica?.close().catch(() => undefined);
      await file.close();
    }
  },
};
