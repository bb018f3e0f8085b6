/**
 * The command line of `play`: its flags, its usage text, and the checks that reject flag
 * combinations before anything is opened.
 */
import { parseFlags, required, UsageError } from './args.js';
import { isHintsUrl, KV_HINTS_HELP, parseHintsUrl, parseJournalUrl } from './journal-url.js';
import type { Author } from '../wire/types.js';

const FLAGS = {
  log: { type: 'string', multiple: true },
  journal: { type: 'string', multiple: true },
  hints: { type: 'string' },
  dir: { type: 'string' },
  lenient: { type: 'boolean' },
  handoff: { type: 'string' },
  force: { type: 'boolean' },
  'if-not-exists': { type: 'boolean' },
  follow: { type: 'boolean' },
  'until-handoff': { type: 'boolean' },
} as const;

export const PLAY_USAGE = [
  'Usage: recoverylog play --log DIR [--log DIR2 ...] [--hints FILE] --dir OUT',
  '       recoverylog play --journal nats://HOST:PORT/NAME [--journal URL2 ...] [--log DIR ...]',
  '                        [--hints FILE|kv://HOST:PORT/[BUCKET/]STORE] --dir OUT',
  '                        [--lenient] [--handoff AUTHOR] [--force] [--if-not-exists]',
  '                        [--follow [--until-handoff]]',
  '',
  'Rebuilds the recorded directory into OUT, which must not exist or be empty (unless',
  '--force). The tree is built in a hidden partial directory next to OUT and moved to OUT',
  'only once complete, so OUT never holds a half-recovered tree, and a failed or',
  'interrupted playback leaves OUT as it was. Without --hints, plays the journal of the',
  'first --log from offset 0; with --hints, reads only what the hints say is live,',
  'resolving the journals they name among the --log directories. Prints a one-line',
  'summary; shows a progress bar on a terminal.',
  '',
  'Options:',
  '  --log DIR         a file journal directory (repeat for hints that span several logs)',
  '  --journal URL     a JetStream journal, nats://HOST:PORT[,HOST:PORT...]/NAME (repeatable;',
  "                    the first journal is --journal's when no --log is given)",
  '  --hints FILE      FSMHints to start from (Gazette JSON or protobuf)',
  `  --hints ${KV_HINTS_HELP}:`,
  '                    the newest hints it holds (primary or backup, by write head)',
  '  --dir OUT         the directory to recover into (not a --log directory, nor one',
  '                    inside or above one; if it is a symbolic link, the directory it',
  '                    points to is replaced)',
  '  --lenient         skip garbage and rejected ops as Gazette does (for imported Gazette',
  '                    logs) instead of failing on them',
  '  --handoff AUTHOR  take ownership of the log: append a fenced hand-off no-op by AUTHOR',
  '                    (1..4294967295) at the write head and finish after it; without it,',
  '                    playback is read-only and finishes at the write head',
  '  --force           replace OUT even if it exists and holds files (the old content is',
  '                    deleted once the recovered tree is in place)',
  '  --if-not-exists   for start-up scripts: if OUT already holds a restored tree (a',
  '                    non-empty directory, without the staging directory .fnodes of a',
  '                    killed in-place playback), do nothing and exit 0',
  '  --follow          hot standby: after the playback above, keep applying new ops of the',
  "                    hints' log in place as they are appended, until SIGINT/SIGTERM (exit",
  '                    130/143, OUT consistent as of the last applied op). While following,',
  '                    OUT holds the staging directory .fnodes (hard links of the live files);',
  '                    it is removed on a clean stop, and a follower killed mid-op leaves it,',
  '                    marking OUT as unfinished: rebuild it with --force. Hand-offs (another',
  '                    writer took the log over) are reported on stderr and followed',
  '  --until-handoff   with --follow: stop (exit 0) after the first hand-off no-op',
  '',
  'Exit status: 0 recovered (or, with --if-not-exists, already there); 1 on failure (the',
  'message names the log and offset, or the file); 2 on a usage error; 130/143 when',
  'interrupted by SIGINT/SIGTERM (the partial tree is removed; OUT is untouched).',
].join('\n');

/** Parses a hand-off author: decimal or 0x-hex, a uint32 other than 0. */
export function parseAuthor(text: string): Author {
  const value = /^0x[0-9a-f]{1,8}$/i.test(text)
    ? Number.parseInt(text.slice(2), 16)
    : /^[0-9]{1,10}$/.test(text)
      ? Number(text)
      : NaN;
  if (!Number.isInteger(value) || value < 1 || value > 0xffffffff) {
    throw new UsageError(
      `--handoff needs an author: an integer in 1..4294967295 (decimal or 0x-hex), not "${text}"`,
    );
  }
  return value;
}

/** The flags of one `play` invocation, parsed and checked against each other. */
export interface PlayArgs {
  log: string[];
  journal: string[];
  hints: string | undefined;
  dir: string;
  lenient: boolean;
  handoff: Author | undefined;
  force: boolean;
  ifNotExists: boolean;
  follow: boolean;
  untilHandoff: boolean;
}

/** Parses `play`'s argv; a UsageError names the first flag (or combination) that is wrong. */
export function parsePlayArgs(argv: string[]): PlayArgs {
  const flags = parseFlags(argv, FLAGS);
  if (flags.log.length === 0 && flags.journal.length === 0) {
    throw new UsageError('missing --log DIR (or --journal nats://HOST:PORT/NAME)');
  }
  for (const url of flags.journal) parseJournalUrl(url);
  if (flags.hints !== undefined && isHintsUrl(flags.hints)) parseHintsUrl(flags.hints);
  const dir = required(flags.dir, '--dir OUT');
  const handoff = flags.handoff === undefined ? undefined : parseAuthor(flags.handoff);
  if (flags.follow && handoff !== undefined) {
    throw new UsageError('--follow and --handoff exclude each other: a standby only reads');
  }
  if (flags.follow && flags['if-not-exists']) {
    throw new UsageError(
      '--follow cannot resume a restored tree (--if-not-exists); it replays into --dir',
    );
  }
  if (flags['until-handoff'] && !flags.follow) {
    throw new UsageError('--until-handoff needs --follow');
  }
  return {
    log: flags.log,
    journal: flags.journal,
    hints: flags.hints,
    dir,
    lenient: flags.lenient,
    handoff,
    force: flags.force,
    ifNotExists: flags['if-not-exists'],
    follow: flags.follow,
    untilHandoff: flags['until-handoff'],
  };
}
