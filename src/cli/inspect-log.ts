/**
 * `recoverylog inspect --log DIR`: the raw inspector (inspect.ts) over a file journal's
 * committed content. `--raw` invocations are passed to the raw inspector unchanged.
 */
import { errorMessage, RecoveryLogError } from '../errors.js';
import type { Journal } from '../journal/journal.js';
import { parseArgs, UsageError, type Verb } from './args.js';
import { TRANSFER_CHUNK } from './import-export.js';
import { inspectStream, inspectVerb, UnreadableLogError } from './inspect.js';
import { openLogOrJournal } from './journal-url.js';
import { quietContext, throwIfInterrupted } from './signals.js';

/** A journal's content cannot be inspected past `offset`. */
export class UnreadableJournalError extends RecoveryLogError {
  readonly log: string;
  readonly offset: number;
  constructor(log: string, offset: number, cause: unknown) {
    super(`journal ${log}: ${errorMessage(cause)}`, { cause });
    this.log = log;
    this.offset = offset;
  }
}

/**
 * The committed bytes of `journal` from `from` up to its write head at the time of the call, as
 * a stream of chunks (read lazily, one chunk in memory at a time).
 */
export async function* journalChunks(
  journal: Journal,
  from = 0,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const head = await journal.head();
  let offset = from;
  while (offset < head) {
    throwIfInterrupted(signal);
    const { offset: at, bytes } = await journal.read(offset, {
      blocking: false,
      maxBytes: Math.min(TRANSFER_CHUNK, head - offset),
      signal,
    });
    if (at !== offset) {
      throw new UnreadableJournalError(
        journal.name,
        offset,
        new Error(`bytes ${offset}..${at} are missing (the journal skipped ahead)`),
      );
    }
    const chunk = bytes.subarray(0, Math.min(bytes.length, head - offset));
    offset += chunk.length;
    yield chunk;
  }
}

/** Prints the ops of a journal like `inspect --raw` does for a file; errors name the journal. */
export async function inspectJournal(
  journal: Journal,
  out: (line: string) => void,
  json: boolean,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await inspectStream(journalChunks(journal, 0, signal), out, json);
  } catch (err) {
    if (err instanceof UnreadableLogError) {
      throw new UnreadableJournalError(journal.name, err.offset, err);
    }
    throw err;
  }
}

const FLAGS = {
  raw: { type: 'string' },
  log: { type: 'string' },
  journal: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** The inspect verb, reading either a raw byte file (--raw) or a file journal (--log). */
export const inspectWithLogVerb: Verb = {
  summary: inspectVerb.summary,
  usage: inspectVerb.usage
    .replace(
      'Usage: recoverylog inspect --raw FILE [--json]',
      [
        'Usage: recoverylog inspect --raw FILE [--json]',
        '       recoverylog inspect --log DIR [--json]',
        '       recoverylog inspect --journal nats://HOST:PORT[,HOST:PORT...]/NAME [--json]',
        '',
        'With --log DIR, reads the committed content (offset 0 to the write head) of the file',
        'journal in DIR instead of a raw file; everything else is the same. With --journal URL,',
        'reads a JetStream journal the same way (read-only: nothing is appended).',
      ].join('\n'),
    )
    .replace(
      /^( {2}--raw FILE .*)$/m,
      '$1\n  --log DIR    the file journal to read (instead of --raw)\n' +
        '  --journal URL  a JetStream journal to read (nats://HOST:PORT/NAME; instead of --raw)',
    ),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const { flags, positionals } = parseArgs(argv, FLAGS);
    if (flags.log === undefined && flags.journal === undefined) {
      if (flags.raw === undefined) {
        throw new UsageError(
          'inspect needs --raw FILE or --log DIR (or --journal nats://HOST:PORT/NAME)',
        );
      }
      return inspectVerb.run(argv, context);
    }
    if (flags.raw !== undefined)
      throw new UsageError('give either --raw FILE or --log DIR / --journal URL, not both');
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const journal = await openLogOrJournal(flags, { readOnly: true });
    try {
      await inspectJournal(
        journal,
        (line) => process.stdout.write(`${line}\n`),
        flags.json,
        context.signal,
      );
    } finally {
      await journal.close();
    }
    return 0;
  },
};
