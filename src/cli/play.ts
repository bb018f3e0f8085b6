/**
 * `recoverylog play`: recover a directory from one or more file journals, from stored hints or
 * from offset 0, finishing at the write head (read-only) or after a fenced hand-off no-op
 * (taking ownership of the log). Option parsing is in play-options.ts, the target directory in
 * play-target.ts, what is printed in play-summary.ts, and --follow in play-follow.ts.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, parse, resolve } from 'node:path';
import { errorMessage, RecoveryLogError } from '../errors.js';
import { decodeHints } from '../hints.js';
import { FileJournal } from '../journal/file.js';
import type { Journal } from '../journal/journal.js';
import { JetStreamJournal } from '../journal/jetstream.js';
import { Player, type PlaybackWarning, type PlayResult } from '../player.js';
import type { Author, FSMHints } from '../wire/types.js';
import { UsageError, type Verb } from './args.js';
import { onFile } from './file-errors.js';
import { resolverFor, UnknownJournalError } from './hints.js';
import { isHintsUrl, openJournalUrl, pickStoredHints } from './journal-url.js';
import { cleanStalePartials, createPartialDir, removePartial } from './partial.js';
import { followAfterPlay } from './play-follow.js';
import { parsePlayArgs, PLAY_USAGE, type PlayArgs } from './play-options.js';
import { playSummary, WarningPrinter } from './play-summary.js';
import {
  assertReplaceable,
  assertTargetOutsideLogs,
  installRecovered,
  resolveTarget,
  targetState,
} from './play-target.js';
import { createProgress } from './progress.js';
import { openReadOnly } from './read-only.js';
import { interruptedBy, quietContext, throwIfInterrupted } from './signals.js';

// This module's exports before it was split, kept at this path for its importers.
export { parseAuthor } from './play-options.js';
export { playSummary } from './play-summary.js';
export {
  assertReplaceable,
  assertTargetOutsideLogs,
  installRecovered,
  resolveTarget,
  TargetNotEmptyError,
  TargetOverlapsLogError,
  targetState,
  type TargetState,
} from './play-target.js';

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
    super(`hints file ${file}: ${errorMessage(cause)}`, { cause });
    this.file = file;
  }
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

export const playVerb: Verb = {
  summary: 'recover a directory from file journals (and optional hints)',
  usage: PLAY_USAGE,
  async run(argv: string[], context = quietContext()): Promise<number> {
    const { signal } = context;
    const args = parsePlayArgs(argv);
    const target = await resolveTarget(args.dir);
    if (target === parse(target).root) {
      throw new UsageError(`--dir ${args.dir} is a file-system root; choose a directory below it`);
    }
    const parent = dirname(target);
    if (args.ifNotExists && (await targetState(target)) === 'restored') {
      await cleanStalePartials(parent);
      process.stdout.write(
        `${target} already holds a restored tree: nothing done (--if-not-exists)\n`,
      );
      return 0;
    }
    const hints =
      args.hints === undefined
        ? undefined
        : isHintsUrl(args.hints)
          ? await pickStoredHints(args.hints)
          : await readHintsFile(args.hints);
    await assertTargetOutsideLogs(args.dir, args.log);
    if (!args.force) await assertReplaceable(target);
    await onFile('create the directory', parent, () => mkdir(parent, { recursive: true }), '--dir');
    await cleanStalePartials(parent);
    throwIfInterrupted(signal);

    const journals = await openJournals(args.log, {
      readOnly: args.handoff === undefined,
      urls: args.journal,
    });
    try {
      const { result, journalBytes } = await playIntoTarget(journals, target, hints, args, signal);
      process.stdout.write(
        `${playSummary({ ...result, dir: target }, journalBytes, args.handoff)}\n`,
      );
      if (!args.follow) return 0;
      const followed = await followAfterPlay(journals, result, target, {
        signal,
        lenient: args.lenient,
        untilHandoff: args.untilHandoff,
      });
      return followed === 'handoff' ? 0 : (interruptedBy(signal)?.exitCode ?? 130);
    } finally {
      await Promise.all(journals.map((j) => j.close()));
    }
  },
};

/**
 * Plays `journals` into a partial directory next to `target` (with a progress bar and warnings
 * on stderr) and moves the recovered tree to `target`; the partial directory never outlives a
 * failure.
 */
async function playIntoTarget(
  journals: readonly Journal[],
  target: string,
  hints: FSMHints | undefined,
  args: PlayArgs,
  signal: AbortSignal | undefined,
): Promise<{ result: PlayResult; journalBytes: number }> {
  const parent = dirname(target);
  let staging: string | undefined;
  let installed = false;
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
    const warnings = new WarningPrinter(() => progress.finish());
    let result: PlayResult;
    try {
      result = await playJournals(journals, staging, {
        hints,
        lenient: args.lenient,
        handoff: args.handoff,
        signal,
        onProgress: (done) => progress.update(done),
        onWarning: (w) => warnings.print(w),
      });
    } finally {
      progress.finish();
    }
    throwIfInterrupted(signal);
    await installRecovered(staging, target, args.force);
    installed = true;
    warnings.finish();
    return { result, journalBytes };
  } finally {
    if (staging !== undefined && !installed) await removePartial(staging);
  }
}
