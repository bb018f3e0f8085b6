/**
 * `recoverylog play`: recover a directory from one or more file journals, from stored hints or
 * from offset 0, finishing at the write head (read-only) or after a fenced hand-off no-op
 * (taking ownership of the log).
 */
import { lstat, mkdir, readdir, readFile, realpath, rename } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, parse, relative, resolve, sep } from 'node:path';
import { syncDir } from '../durable-file.js';
import { RecoveryLogError } from '../errors.js';
import { decodeHints } from '../hints.js';
import { FileJournal } from '../journal/file.js';
import type { Journal } from '../journal/journal.js';
import {
  Player,
  STAGING_DIR,
  type PlaybackWarning,
  type PlayResult,
  type PlayStats,
} from '../player.js';
import type { Author, FSMHints } from '../wire/types.js';
import { parseArgs, UsageError, type Verb } from './args.js';
import { asFileError, errnoOf, FileSystemError, onFile } from './file-errors.js';
import { resolverFor, UnknownJournalError } from './hints.js';
import { required } from './import-export.js';
import {
  cleanStalePartials,
  createPartialDir,
  partialPathFor,
  removePartial,
  trackPartial,
  untrackPartial,
} from './partial.js';
import { createProgress } from './progress.js';
import { openReadOnly } from './read-only.js';
import { JetStreamJournal } from '../journal/jetstream.js';
import {
  KV_HINTS_HELP,
  isHintsUrl,
  openJournalUrl,
  parseHintsUrl,
  parseJournalUrl,
  pickStoredHints,
} from './journal-url.js';
import { interruptedBy, quietContext, throwIfInterrupted } from './signals.js';
import { followAfterPlay } from './play-follow.js';

/** Two --log directories hold journals with the same name. */
export class DuplicateJournalError extends RecoveryLogError {
  constructor(name: string, dirs: readonly string[]) {
    super(
      `journal name ${name} is held by more than one --log directory (${dirs.join(', ')}); ` +
        'give each journal once',
    );
  }
}

/** The hints file cannot be read or decoded. */
export class HintsFileError extends RecoveryLogError {
  readonly file: string;
  constructor(file: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`hints file ${file}: ${detail}`, { cause });
    this.file = file;
  }
}

/** The target directory holds files and --force was not given. */
export class TargetNotEmptyError extends RecoveryLogError {
  readonly dir: string;
  constructor(dir: string, detail?: string) {
    super(
      `${dir} exists and is not empty${detail === undefined ? '' : ` (${detail})`}; play ` +
        'replaces the target directory, so pass --force to replace it, or choose a new --dir',
    );
    this.dir = dir;
  }
}

/** Throws TargetNotEmptyError when `dir` is a directory with entries (or not a directory). */
export async function assertReplaceable(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new TargetNotEmptyError(dir, 'it is not a directory');
    }
    throw asFileError(err, 'read the directory', dir, '--dir');
  }
  if (entries.includes(STAGING_DIR)) {
    throw new TargetNotEmptyError(
      dir,
      `it holds ${STAGING_DIR}: a playback into it was killed before it finished`,
    );
  }
  if (entries.length > 0) throw new TargetNotEmptyError(dir);
}

/**
 * What `play --if-not-exists` finds at the target: nothing, an empty directory, a restored tree
 * (a non-empty directory without the Player's staging directory at its top: this command moves
 * a recovered tree into place only once complete), an in-place playback that was killed (the
 * Player's staging directory is there), or something that is not a directory.
 */
export type TargetState = 'absent' | 'empty' | 'restored' | 'interrupted' | 'not-a-directory';

export async function targetState(dir: string): Promise<TargetState> {
  let isDirectory: boolean;
  try {
    isDirectory = (await lstat(dir)).isDirectory();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return 'absent';
    throw asFileError(err, 'access', dir, '--dir');
  }
  if (!isDirectory) return 'not-a-directory';
  const entries = await onFile('read the directory', dir, () => readdir(dir), '--dir');
  if (entries.length === 0) return 'empty';
  return entries.includes(STAGING_DIR) ? 'interrupted' : 'restored';
}

/**
 * The directory to restore into: `dir` made absolute, and, when it is a symbolic link, the
 * directory it points to (the recovered tree replaces that, the link stays).
 */
export async function resolveTarget(dir: string): Promise<string> {
  const abs = resolve(dir);
  let isLink = false;
  try {
    isLink = (await lstat(abs)).isSymbolicLink();
  } catch {
    return abs;
  }
  if (!isLink) return abs;
  try {
    return await realpath(abs);
  } catch {
    return abs; // a dangling link: the link itself is the target
  }
}

/**
 * Moves the recovered tree `staging` (a partial directory next to `target`) to `target`. An
 * absent target or an empty directory is replaced atomically; anything else only with `force`,
 * by moving it aside first and deleting it once the new tree is in place.
 */
export async function installRecovered(
  staging: string,
  target: string,
  force: boolean,
): Promise<void> {
  const parent = dirname(target);
  try {
    await rename(staging, target);
  } catch (err) {
    const code = errnoOf(err);
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'EISDIR') {
      throw new FileSystemError('move the recovered directory to', target, err, '--dir');
    }
    // Something appeared at the target while we played.
    if (!force) throw new TargetNotEmptyError(target);
    const aside = partialPathFor(target);
    await onFile('move aside', target, () => rename(target, aside), '--dir');
    trackPartial(aside);
    try {
      await rename(staging, target);
    } catch (err2) {
      await rename(aside, target).then(
        () => untrackPartial(aside),
        () => undefined,
      );
      throw new FileSystemError('move the recovered directory to', target, err2, '--dir');
    }
    await removePartial(aside);
  }
  untrackPartial(staging);
  await onFile('fsync the directory', parent, () => syncDir(parent), '--dir');
}

/** --dir is, contains or lies inside a --log directory: playback would delete the journal. */
export class TargetOverlapsLogError extends UsageError {
  readonly dir: string;
  readonly logDir: string;
  constructor(dir: string, relation: string, logDir: string) {
    super(
      `--dir ${dir} ${relation} the --log directory ${logDir}; play replaces its target ` +
        'directory (and the Player deletes it first), so it would delete the journal it reads: ' +
        'choose a --dir outside every --log directory; nothing was deleted',
    );
    this.dir = dir;
    this.logDir = logDir;
  }
}

/**
 * The real path of `path`, which need not exist: that of its nearest existing ancestor, joined
 * with the rest. Symlinks are resolved, so two spellings of one directory compare equal.
 */
async function realPathOf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    const parent = dirname(path);
    if (parent === path) throw err;
    return join(await realPathOf(parent), basename(path));
  }
}

/** Whether the absolute path `child` lies strictly below the absolute path `parent`. */
function isBelow(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * Throws TargetOverlapsLogError when the target `dir` is, contains or lies inside one of
 * `logDirs`, comparing real paths. Playback removes its target before anything else, so this
 * must run before it: `play --force --dir <log's parent>` used to delete the journal it read.
 */
export async function assertTargetOutsideLogs(
  dir: string,
  logDirs: readonly string[],
): Promise<void> {
  const target = await realPathOf(resolve(dir));
  for (const logDir of logDirs) {
    const log = await realPathOf(resolve(logDir));
    const relation =
      target === log
        ? 'is'
        : isBelow(log, target)
          ? 'contains'
          : isBelow(target, log)
            ? 'lies inside'
            : undefined;
    if (relation !== undefined) throw new TargetOverlapsLogError(dir, relation, logDir);
  }
}

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

/** Reads hints (Gazette JSON or protobuf) from a file. */
export async function readHintsFile(file: string): Promise<FSMHints> {
  const bytes = await onFile('read the hints file', resolve(file), () => readFile(file), '--hints');
  try {
    return decodeHints(bytes);
  } catch (err) {
    throw new HintsFileError(file, err);
  }
}

/**
 * Opens file journals, failing on duplicate names; closes what was opened on failure. With
 * `readOnly` (playback without a hand-off), they are opened read-only (see read-only.ts): playback
 * then never modifies a journal file.
 */
export async function openJournals(
  dirs: readonly string[],
  options: { readOnly?: boolean; urls?: readonly string[] } = {},
): Promise<Journal[]> {
  const readOnly = options.readOnly === true;
  const journals: (FileJournal | JetStreamJournal)[] = [];
  try {
    for (const dir of dirs) {
      journals.push(await (readOnly ? openReadOnly(dir) : FileJournal.open(dir)));
    }
    for (const url of options.urls ?? []) journals.push(await openJournalUrl(url, { readOnly }));
    const seen = new Map<string, string>();
    for (const j of journals) {
      const where = j instanceof FileJournal ? j.dir : `stream ${j.location.stream}`;
      const other = seen.get(j.name);
      if (other !== undefined) throw new DuplicateJournalError(j.name, [other, where]);
      seen.set(j.name, where);
    }
    return journals;
  } catch (err) {
    await Promise.all(journals.map((j) => j.close().catch(() => undefined)));
    throw err;
  }
}

export interface PlayOptions {
  /** Hints to start from; default: the first journal from offset 0. */
  hints?: FSMHints;
  lenient?: boolean;
  /** Take ownership with a hand-off no-op by this author; default: finish at the write head. */
  handoff?: Author;
  signal?: AbortSignal;
  onProgress?: (bytesRead: number) => void;
  onWarning?: (warning: PlaybackWarning) => void;
}

/** Plays `journals` (the first is the primary log when no hints are given) into `dir`. */
export async function playJournals(
  journals: readonly Journal[],
  dir: string,
  options: PlayOptions = {},
): Promise<PlayResult> {
  if (journals.length === 0) throw new UsageError('play needs at least one --log DIR');
  const hints = options.hints ?? { log: journals[0].name, liveNodes: [], properties: [] };
  if (!journals.some((j) => j.name === hints.log)) {
    throw new UnknownJournalError(
      hints.log,
      journals.map((j) => j.name),
    );
  }
  let bytesRead = 0;
  const player = new Player({
    lenient: options.lenient,
    signal: options.signal,
    onWarning: options.onWarning,
    onProgress:
      options.onProgress &&
      ((p) => {
        // readThrough is only a bound; count what the reader has consumed, per read.
        bytesRead = Math.max(bytesRead, p.offset);
        options.onProgress!(bytesRead);
      }),
  });
  if (options.handoff !== undefined) player.injectHandoff(options.handoff);
  else player.finishAtWriteHead();
  return player.play({ hints, dir: resolve(dir), journals: resolverFor(journals) });
}

/** The one-line summary printed after a successful play. */
export function playSummary(
  result: PlayResult,
  journalBytes: number,
  handoff: Author | undefined,
): string {
  const s: PlayStats = result.stats;
  const skipped = Object.entries(s.opsSkipped)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([reason, n]) => `${reason} ${n}`);
  const skippedTotal = Object.values(s.opsSkipped).reduce<number>((a, n) => a + (n ?? 0), 0);
  return (
    `played ${result.log} into ${result.dir}: ${s.opsApplied} ops applied, ` +
    `${skippedTotal} skipped${skipped.length > 0 ? ` (${skipped.join(', ')})` : ''}, ` +
    `${s.bytesRead} of ${journalBytes} journal bytes read, ${s.files} files, ` +
    `${s.seconds.toFixed(3)} s` +
    (handoff !== undefined ? `, hand-off by author ${handoff}` : '')
  );
}

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

const MAX_WARNINGS_SHOWN = 20;

export const playVerb: Verb = {
  summary: 'recover a directory from file journals (and optional hints)',
  usage: [
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
  ].join('\n'),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const { signal } = context;
    const { flags, positionals } = parseArgs(argv, FLAGS);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
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
    const target = await resolveTarget(dir);
    if (target === parse(target).root) {
      throw new UsageError(`--dir ${dir} is a file-system root; choose a directory below it`);
    }
    const parent = dirname(target);
    if (flags['if-not-exists'] && (await targetState(target)) === 'restored') {
      await cleanStalePartials(parent);
      process.stdout.write(
        `${target} already holds a restored tree: nothing done (--if-not-exists)\n`,
      );
      return 0;
    }
    const hints =
      flags.hints === undefined
        ? undefined
        : isHintsUrl(flags.hints)
          ? await pickStoredHints(flags.hints)
          : await readHintsFile(flags.hints);
    await assertTargetOutsideLogs(dir, flags.log);
    if (!flags.force) await assertReplaceable(target);
    await onFile('create the directory', parent, () => mkdir(parent, { recursive: true }), '--dir');
    await cleanStalePartials(parent);
    throwIfInterrupted(signal);

    const journals = await openJournals(flags.log, {
      readOnly: handoff === undefined,
      urls: flags.journal,
    });
    let staging: string | undefined;
    let installed = false;
    let warnings = 0;
    try {
      const heads = await Promise.all(journals.map((j) => j.head()));
      const journalBytes = heads.reduce((a, b) => a + b, 0);
      staging = await onFile(
        'create a directory in',
        parent,
        () => createPartialDir(target),
        '--dir',
      );
      const progress = createProgress({
        label: `playing ${hints?.log ?? journals[0].name}`,
        total: journalBytes,
      });
      let result: PlayResult;
      try {
        result = await playJournals(journals, staging, {
          hints,
          lenient: flags.lenient,
          handoff,
          signal,
          onProgress: (done) => progress.update(done),
          onWarning: (w) => {
            warnings += 1;
            if (warnings <= MAX_WARNINGS_SHOWN) {
              progress.finish();
              process.stderr.write(`warning: ${w.log} at offset ${w.offset}: ${w.message}\n`);
            }
          },
        });
      } finally {
        progress.finish();
      }
      throwIfInterrupted(signal);
      await installRecovered(staging, target, flags.force);
      installed = true;
      if (warnings > MAX_WARNINGS_SHOWN) {
        process.stderr.write(`(${warnings - MAX_WARNINGS_SHOWN} more warnings not shown)\n`);
      }
      process.stdout.write(`${playSummary({ ...result, dir: target }, journalBytes, handoff)}\n`);
      if (!flags.follow) return 0;
      const followed = await followAfterPlay(journals, result, target, {
        signal,
        lenient: flags.lenient,
        untilHandoff: flags['until-handoff'],
      });
      return followed === 'handoff' ? 0 : (interruptedBy(signal)?.exitCode ?? 130);
    } finally {
      if (staging !== undefined && !installed) await removePartial(staging);
      await Promise.all(journals.map((j) => j.close()));
    }
  },
};
