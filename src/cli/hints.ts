/**
 * `recoverylog hints --log DIR`: the FSMHints of a log at its write head, computed by replaying
 * the log from offset 0 through the Player with a target file system that discards everything:
 * the same strict checks (sequence, checksums, Write payload CRCs) as a real recovery, and no
 * file I/O at all.
 */
import { resolve } from 'node:path';
import { RecoveryLogError } from '../errors.js';
import { encodeHints, type HintsFormat } from '../hints.js';
import type { Journal, JournalResolver } from '../journal/journal.js';
import { Player, type PlayStats, type TargetFileHandle, type TargetFs } from '../player.js';
import type { FSMHints } from '../wire/types.js';
import { parseFlags, UsageError, type Verb } from './args.js';
import {
  assertReplaceableOutput,
  OutputIsTerminalError,
  STDOUT,
  writeAll,
  writeOutputFile,
} from './output.js';
import {
  checkLogOrJournal,
  isHintsUrl,
  JOURNAL_FLAG_HELP,
  KV_HINTS_HELP,
  openHintsUrl,
  openLogOrJournal,
  parseHintsUrl,
} from './journal-url.js';
import { quietContext } from './signals.js';

/** Hints name a log that none of the given journals holds. */
export class UnknownJournalError extends RecoveryLogError {
  readonly log: string;
  constructor(log: string, known: readonly string[]) {
    super(
      `no journal named ${log} was given (the --log directories hold: ` +
        `${known.length === 0 ? 'none' : known.join(', ')}); add --log DIR for the journal ` +
        `named ${log}`,
    );
    this.log = log;
  }
}

/** Resolves journal names among an explicit set of journals. */
export function resolverFor(journals: readonly Journal[]): JournalResolver {
  const byName = new Map(journals.map((j) => [j.name, j]));
  return (name) => {
    const journal = byName.get(name);
    if (journal === undefined) throw new UnknownJournalError(name, [...byName.keys()]);
    return journal;
  };
}

const discardedHandle: TargetFileHandle = {
  write: async (_buffer, _offset, length) => ({ bytesWritten: length }),
  truncate: async () => undefined,
  close: async () => undefined,
};

/**
 * A TargetFs where every operation succeeds and nothing is stored: playing into it runs the
 * whole playback logic (and its verification) without touching a disk.
 */
export const discardingTargetFs: TargetFs = {
  rm: async () => undefined,
  mkdir: async () => undefined,
  open: async () => discardedHandle,
  link: async () => undefined,
  unlink: async () => undefined,
  rmdir: async () => undefined,
  writeFile: async () => undefined,
  chmod: async () => undefined,
};

export interface HintsAtHeadOptions {
  /** Skip what Gazette's raced writers may leave (garbage, rejected ops), as Player lenient. */
  lenient?: boolean;
  signal?: AbortSignal;
  onProgress?: (offset: number) => void;
}

/**
 * Replays `journal` from offset 0 up to its write head (no files written) and returns the hints
 * a Player would need to recover it, with the playback statistics. Nothing is appended to the
 * journal: the Player's barriers write nothing (a FileJournal answers them at its head, without
 * the lock or a writer epoch), so a journal opened read-only works.
 */
export async function hintsAtWriteHead(
  journal: Journal,
  options: HintsAtHeadOptions = {},
): Promise<{ hints: FSMHints; stats: PlayStats }> {
  const player = new Player({
    fs: discardingTargetFs,
    lenient: options.lenient,
    signal: options.signal,
    onProgress: options.onProgress && ((p) => options.onProgress!(p.offset)),
  });
  player.finishAtWriteHead();
  const result = await player.play({
    hints: { log: journal.name, liveNodes: [], properties: [] },
    // Never touched: the discarding file system ignores every path.
    dir: '/nonexistent/recoverylog-hints',
    journals: resolverFor([journal]),
  });
  return { hints: result.fsm.buildHints(result.log), stats: result.stats };
}

const FLAGS = {
  log: { type: 'string' },
  journal: { type: 'string' },
  lenient: { type: 'boolean' },
  out: { type: 'string' },
  format: { type: 'string' },
} as const;

export const hintsVerb: Verb = {
  summary: 'print the FSMHints of a log at its write head (replays it, writes no files)',
  usage: [
    'Usage: recoverylog hints --log DIR [--lenient] [--out FILE|- [--format json|protobuf]]',
    '       recoverylog hints --journal nats://HOST:PORT/NAME [--lenient] [--out FILE|-|kv://...]',
    '',
    'Replays the file journal in DIR from offset 0 to its write head, checking it as a',
    'recovery would (sequence numbers, checksum chain, Write payload CRCs) but writing no',
    'files, and prints the hints that recover it, as Gazette JSON (the form Gazette stores).',
    '',
    'Options:',
    '  --log DIR        the journal directory',
    JOURNAL_FLAG_HELP,
    '                   (read-only: nothing is appended)',
    '  --lenient        skip garbage and rejected ops as Gazette does (for imported Gazette',
    '                   logs) instead of failing on them',
    '  --out FILE|-     write the hints to FILE atomically instead of printing them (a regular',
    '                   file there is replaced; anything else is refused), or with "-" to',
    '                   standard output in --format (protobuf: not to a terminal)',
    '  --format FORMAT  with --out: json (default) or protobuf',
    `  --out ${KV_HINTS_HELP}`,
    '                   store the hints as the primary of that KV hints store instead',
    '',
    'Exit status: 0 success; 1 when the log cannot be replayed (the message names the log',
    'and offset); 2 on a usage error; 130/143 when interrupted by SIGINT/SIGTERM.',
  ].join('\n'),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const flags = parseFlags(argv, FLAGS);
    checkLogOrJournal(flags);
    const format = parseFormat(flags.format);
    if (flags.format !== undefined && flags.out === undefined) {
      throw new UsageError('--format applies to --out FILE only (printed hints are JSON)');
    }
    const out = flags.out;
    if (out === STDOUT && format === 'protobuf' && process.stdout.isTTY === true) {
      throw new OutputIsTerminalError('--out');
    }
    const toKv = out !== undefined && isHintsUrl(out);
    if (toKv) {
      parseHintsUrl(out, '--out');
      if (flags.format !== undefined)
        throw new UsageError('--format does not apply to --out kv://');
    } else if (out !== undefined && out !== STDOUT) await assertReplaceableOutput(out, '--out');
    const journal = await openLogOrJournal(flags, { readOnly: true });
    let hints: FSMHints;
    let writeHead: number;
    try {
      // The head before the replay: the hints are at least that recent.
      writeHead = await journal.head();
      ({ hints } = await hintsAtWriteHead(journal, {
        lenient: flags.lenient,
        signal: context.signal,
      }));
    } finally {
      await journal.close();
    }
    if (toKv) {
      const store = await openHintsUrl(out, '--out');
      try {
        await store.storePrimary(hints, { writeHead });
      } finally {
        await store.close();
      }
      process.stderr.write(
        `hints for ${hints.log} (${hints.liveNodes.length} live files, ` +
          `${hints.properties.length} properties) stored as the primary of ${store.location}\n`,
      );
    } else if (out === undefined || (out === STDOUT && format === 'json')) {
      process.stdout.write(`${new TextDecoder().decode(encodeHints(hints, 'json'))}\n`);
    } else if (out === STDOUT) {
      process.stdout.write(encodeHints(hints, format));
    } else {
      const bytes = encodeHints(hints, format);
      await writeOutputFile(out, { flag: '--out', signal: context.signal }, (file) =>
        writeAll(file, bytes),
      );
      process.stderr.write(
        `hints for ${hints.log} (${hints.liveNodes.length} live files, ` +
          `${hints.properties.length} properties) written to ${resolve(out)}\n`,
      );
    }
    return 0;
  },
};

function parseFormat(value: string | undefined): HintsFormat {
  if (value === undefined || value === 'json') return 'json';
  if (value === 'protobuf') return 'protobuf';
  throw new UsageError(`--format must be json or protobuf, not "${value}"`);
}
