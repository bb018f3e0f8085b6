/**
 * `recoverylog fragments --log DIR`: the fragments a file journal's content is stored in (format
 * version 2), oldest first, with a summary. Opens the journal read-only: it writes nothing.
 */
import type { FragmentInfo } from '../journal/prune.js';
import { parseFlags, required, UsageError, type Verb } from './args.js';
import { formatBytes } from './progress.js';
import { parseJournalUrl } from './journal-url.js';
import { openReadOnly } from './read-only.js';
import { quietContext, throwIfInterrupted } from './signals.js';

/** The JSON form of a fragment: FragmentInfo with its keys always in this order. */
export function fragmentJson(info: FragmentInfo): FragmentInfo {
  return {
    epoch: info.epoch,
    begin: info.begin,
    end: info.end,
    size: info.size,
    state: info.state,
    sealed: info.sealed,
    checksum: info.checksum,
    files: [...info.files],
  };
}

/** The human form: `epoch 0000000003 4096..8210 4114 bytes sealed checksum=0x…`. */
export function fragmentLine(info: FragmentInfo): string {
  return (
    `epoch ${String(info.epoch).padStart(10, '0')} ${info.begin}..${info.end} ` +
    `${info.size} bytes ${info.state} checksum=${info.checksum}`
  );
}

/** The summary after the fragment lines. */
export function fragmentsSummary(name: string, fragments: readonly FragmentInfo[], low: number) {
  const bytes = fragments.reduce((sum, f) => sum + f.size, 0);
  const head = fragments.at(-1)?.end ?? low;
  return (
    `journal ${name}: ${fragments.length} fragments, ${bytes} bytes (${formatBytes(bytes)}), ` +
    `first offset held ${low}, write head ${head}`
  );
}

const FLAGS = {
  log: { type: 'string' },
  journal: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const fragmentsVerb: Verb = {
  summary: "list a file journal's fragments (offsets, sizes, states, checksums)",
  usage: [
    'Usage: recoverylog fragments --log DIR [--json]',
    '',
    'Lists the fragments that hold the content of the file journal in DIR, oldest first: one',
    'line each with its epoch, byte range begin..end, size, state (open: its writer may still',
    'append; sealed: closed by its writer; fenced: closed by a later writer; legacy: a',
    'version 1 journal) and CRC-32C checksum, then a summary line (fragments, bytes, the first',
    'offset still held, which is above 0 once prune has run, and the write head). The journal',
    'is opened read-only: nothing is written or locked.',
    '',
    'Options:',
    '  --log DIR   the journal directory',
    '  --json      print one JSON array of fragments (keys: epoch, begin, end, size, state,',
    '              sealed, checksum, files) and no summary',
    '',
    'Exit status: 0 success; 1 when the journal cannot be read; 2 on a usage error; 130/143',
    'when interrupted by SIGINT/SIGTERM.',
  ].join('\n'),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const flags = parseFlags(argv, FLAGS);
    if (flags.journal !== undefined) {
      // Validate the URL first: a bad one is reported as such.
      parseJournalUrl(flags.journal);
      throw new UsageError(
        'fragments lists the fragment files of a file journal (--log DIR); a JetStream ' +
          'journal (--journal) has no fragments: it is one stream of messages (see ' +
          '"recoverylog inspect --journal URL" for its content)',
      );
    }
    const log = required(flags.log, '--log DIR');
    const journal = await openReadOnly(log);
    let fragments: FragmentInfo[];
    let low: number;
    try {
      throwIfInterrupted(context.signal);
      fragments = await journal.fragments();
      low = journal.low;
    } finally {
      await journal.close();
    }
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(fragments.map(fragmentJson), null, 2)}\n`);
      return 0;
    }
    const lines = fragments.map(fragmentLine);
    lines.push(fragmentsSummary(journal.name, fragments, low));
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};
