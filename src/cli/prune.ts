/**
 * `recoverylog prune --log DIR --hints FILE ...`: deletes the fragments of a file journal that
 * none of the given hints needs (FileJournal.prune; prune.ts in the journal layer has the
 * crash-safe order). `--dry-run` opens the journal read-only and only reports.
 */
import { FileJournal } from '../journal/file.js';
import type { FragmentInfo, PruneResult } from '../journal/prune.js';
import type { FSMHints } from '../wire/types.js';
import { parseFlags, UsageError, type Verb } from './args.js';
import { fragmentJson, fragmentLine } from './fragments.js';
import { readHintsFile } from './play.js';
import { formatBytes } from './progress.js';
import { JetStreamJournal, type JetStreamPruneResult } from '../journal/jetstream.js';
import {
  allStoredHints,
  checkLogOrJournal,
  isHintsUrl,
  JOURNAL_FLAG_HELP,
  KV_HINTS_HELP,
  openLogOrJournal,
  parseHintsUrl,
} from './journal-url.js';
import { quietContext, throwIfInterrupted } from './signals.js';

/** The JSON form of a prune result, keys always in this order. */
export function pruneJson(journal: string, result: PruneResult): Record<string, unknown> {
  return {
    journal,
    dryRun: result.dryRun,
    needed: result.needed,
    deleted: result.deleted.map(fragmentJson),
    kept: result.kept.map(fragmentJson),
    bytesBefore: result.bytesBefore,
    bytesAfter: result.bytesAfter,
  };
}

/** The human report: one line per deleted fragment, then a summary. */
export function pruneReport(journal: string, result: PruneResult): string[] {
  const verb = result.dryRun ? 'would delete' : 'deleted';
  const lines = result.deleted.map((info: FragmentInfo) => `${verb} ${fragmentLine(info)}`);
  const freed = result.bytesBefore - result.bytesAfter;
  const first = result.kept[0]?.begin;
  lines.push(
    `${result.dryRun ? 'dry run: ' : ''}journal ${journal}: the hints need offsets from ` +
      `${result.needed}; ${verb} ${result.deleted.length} fragments, kept ` +
      `${result.kept.length}${first === undefined ? '' : ` (from offset ${first})`}; ` +
      `${result.bytesBefore} bytes before, ${result.bytesAfter} after ` +
      `(${formatBytes(freed)} ${result.dryRun ? 'would be ' : ''}freed)`,
  );
  return lines;
}

/** The human report of a JetStream prune. */
export function jetStreamPruneReport(journal: string, result: JetStreamPruneResult): string {
  const verb = result.dryRun ? 'would purge' : 'purged';
  return (
    `${result.dryRun ? 'dry run: ' : ''}journal ${journal}: the hints need offsets from ` +
    `${result.needed}; ${verb} ${result.purged} messages (kept from sequence ` +
    `${result.keptFromSeq}); first offset held ${result.firstOffset}`
  );
}

const FLAGS = {
  log: { type: 'string' },
  journal: { type: 'string' },
  hints: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export const pruneVerb: Verb = {
  summary: 'delete the fragments of a file journal that no given hints need',
  usage: [
    'Usage: recoverylog prune --log DIR --hints FILE [--hints FILE ...] [--dry-run] [--json]',
    '       recoverylog prune --journal nats://HOST:PORT/NAME --hints FILE|kv://... [--dry-run]',
    '',
    'Deletes the fragments of the file journal in DIR that lie wholly below the lowest offset',
    'any of the given hints needs: the first offset of their live segments in this journal,',
    'or offset 0 for hints of this journal that have none. Pass the primary hints and every',
    'backup (a recovery may fall back to any of them). The newest fragment is never deleted.',
    'A prune mark (pruned-<offset>) is made durable before any file is removed, so a crash',
    'leaves the journal either as it was or pruned. Hints that neither name this journal nor',
    'hold a segment in it are refused (PruneRefused) and nothing is deleted. Prints each',
    'deleted fragment and the journal bytes before and after.',
    '',
    'Options:',
    '  --log DIR     the journal directory',
    JOURNAL_FLAG_HELP,
    '                (pruned by purging the stream messages below the needed offset; the',
    '                last message is always kept)',
    '  --hints FILE  FSMHints that must stay recoverable (Gazette JSON or protobuf); repeat',
    '                for the primary and each backup; at least one is required',
    `  --hints ${KV_HINTS_HELP}:`,
    '                every hints value it holds (primary and backups) must stay recoverable',
    '  --dry-run     only report what would be deleted: the journal is opened read-only and',
    '                nothing is written',
    '  --json        print the result as one JSON object (keys: journal, dryRun, needed,',
    '                deleted, kept, bytesBefore, bytesAfter; fragments as `fragments --json`)',
    '',
    'Exit status: 0 success (also when nothing could be deleted); 1 on failure (unreadable',
    'hints, hints that do not constrain this journal, journal errors); 2 on a usage error;',
    '130/143 when interrupted by SIGINT/SIGTERM before the prune began (once begun, it',
    'finishes: it takes milliseconds and is crash-safe).',
  ].join('\n'),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const flags = parseFlags(argv, FLAGS);
    checkLogOrJournal(flags);
    for (const value of flags.hints) if (isHintsUrl(value)) parseHintsUrl(value);
    if (flags.hints.length === 0) {
      throw new UsageError('missing --hints FILE (give the primary and every backup hints)');
    }
    const dryRun = flags['dry-run'];
    const hintsList: FSMHints[] = [];
    for (const value of flags.hints) {
      if (isHintsUrl(value)) hintsList.push(...(await allStoredHints(value)));
      else hintsList.push(await readHintsFile(value));
    }
    throwIfInterrupted(context.signal);
    const journal = await openLogOrJournal(flags, { readOnly: dryRun });
    let report: { json: object; text: string };
    try {
      // Once started, a prune runs to its end (milliseconds; and crash-safe in any case).
      throwIfInterrupted(context.signal);
      if (journal instanceof JetStreamJournal) {
        const result = await journal.prune(hintsList, { dryRun });
        report = {
          json: { journal: journal.name, ...result },
          text: jetStreamPruneReport(journal.name, result),
        };
      } else if (journal instanceof FileJournal) {
        const result = await journal.prune(hintsList, { dryRun });
        report = {
          json: pruneJson(journal.name, result),
          text: pruneReport(journal.name, result).join('\n'),
        };
      } else {
        throw new Error('unexpected journal kind');
      }
    } finally {
      await journal.close();
    }
    process.stdout.write(`${flags.json ? JSON.stringify(report.json, null, 2) : report.text}\n`);
    return 0;
  },
};
