/**
 * `play --follow`: a hot standby. After the ordinary playback (built beside the target and moved
 * into place once complete), the standby keeps reading the hints' log from where playback
 * stopped and applies each new op IN PLACE, so that the target directory is, between two ops,
 * exactly the recorded directory as of the last applied op.
 *
 * How ops land: every live file gets a second name `DIR/.fnodes/<fnode>` (a hard link, made when
 * following starts and at each create), through which writes, truncations and mode changes reach
 * all of the file's paths at once; links and unlinks add and remove paths; properties are written
 * beside and renamed into place. The staging directory doubles as the "not finished" marker the
 * rest of the CLI already honours: while it exists, `play --if-not-exists` does not take DIR for
 * a restored tree and `play` refuses to reuse DIR without --force. A clean stop (SIGINT/SIGTERM,
 * or a hand-off with --until-handoff) lets the op being applied finish and then removes it; a
 * process killed mid-op leaves it behind, and the standby is rebuilt with `play --force`.
 */
import { link, lstat, mkdir, open, rename, rm, rmdir, chmod, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { FSM } from '../fsm.js';
import { RecoveryLogError } from '../errors.js';
import { JournalRangeMissingError } from '../journal/errors.js';
import type { Journal } from '../journal/journal.js';
import { playedThrough } from '../fsm-position.js';
import type { PlayResult } from '../player.js';
import { applyOp, type CorruptionReporter } from '../player/apply-op.js';
import { CorruptLogError, LocalFsError } from '../player/errors.js';
import { LogReader, type LogItem } from '../player/log-reader.js';
import { STAGING_DIR, stagedPath, targetPath } from '../player/staging.js';
import { crc32cUpdate } from '../crc32c.js';
import { decodeFrameOp } from '../player/playback.js';
import { checkPayloadCrc } from '../player/payload.js';
import { opKind, type Author, type RecordedOp } from '../wire/types.js';

export interface FollowOptions {
  /** The hints' log, which the playback read through `offset`. */
  journal: Journal;
  /** The FSM as playback left it (Player.play's result). */
  fsm: FSM;
  offset: number;
  /** The recovered directory (already in place). */
  dir: string;
  /** Stops following (after the op being applied). */
  signal: AbortSignal;
  lenient?: boolean;
  /** Stop after applying a hand-off no-op (another writer took the log over). */
  untilHandoff?: boolean;
  /** Called after each applied op. */
  onApplied?: (op: RecordedOp) => void;
  /** Called for every hand-off no-op applied. */
  onHandoff?: (author: Author, offset: number) => void;
}

export interface FollowResult {
  /** Why following stopped. */
  reason: 'interrupted' | 'handoff';
  opsApplied: number;
  opsSkipped: number;
  /** Offset of the hints' log read through (the end of the last op consumed). */
  offset: number;
  /** The FSM as of the last applied op. */
  fsm: FSM;
}

/** Following cannot go on: the journal no longer holds the bytes the standby needs next. */
export class FollowGapError extends RecoveryLogError {
  constructor(cause: JournalRangeMissingError) {
    super(`${cause.message} (while following)`, { cause });
  }
}

/**
 * The CLI's part of `play --follow`: follows the hints' log of `played` from where the playback
 * read it through, reporting on stderr; prints a summary line. Returns why it stopped.
 */
export async function followAfterPlay(
  journals: readonly Journal[],
  played: PlayResult,
  dir: string,
  options: { signal: AbortSignal; lenient?: boolean; untilHandoff?: boolean },
): Promise<FollowResult['reason']> {
  const journal = journals.find((j) => j.name === played.log);
  if (journal === undefined) throw new Error(`no journal ${played.log} to follow`);
  // A Player finishing at the write head notes exactly where its last op ended (nothing read:
  // an empty log).
  const offset = playedThrough(played.fsm, played.log) ?? 0;
  process.stderr.write(
    `following ${played.log} from offset ${offset} into ${dir} (SIGINT or SIGTERM stops)\n`,
  );
  const followed = await followLog({
    journal,
    fsm: played.fsm,
    offset,
    dir,
    signal: options.signal,
    lenient: options.lenient,
    untilHandoff: options.untilHandoff,
    onHandoff: (author, at) =>
      process.stderr.write(`hand-off: author ${author} took ${played.log} over at offset ${at}\n`),
  });
  process.stdout.write(
    `followed ${played.log} into ${dir}: ${followed.opsApplied} more ops applied, ` +
      `${followed.opsSkipped} skipped, read through offset ${followed.offset}; stopped ` +
      `${followed.reason === 'handoff' ? 'at a hand-off' : 'by a signal'}; the directory is ` +
      'consistent as of the last applied op\n',
  );
  return followed.reason;
}

async function onDisk<T>(action: string, file: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw new LocalFsError(action, file, err);
  }
}

/** Follows the log into `dir` until interrupted (or a hand-off, with untilHandoff). */
export async function followLog(options: FollowOptions): Promise<FollowResult> {
  const { journal, fsm, dir, signal } = options;
  const log = journal.name;
  const staging = join(dir, STAGING_DIR);
  await linkLiveFiles(dir, fsm);
  const reader = new LogReader({ signal });
  reader.seek(journal, options.offset);
  const corruption = followCorruption(options.lenient === true);
  let opsApplied = 0;
  let opsSkipped = 0;
  let offset = options.offset;
  /** True while an op is half applied to the directory: a failure then leaves the marker. */
  let applying = false;
  const result = (reason: FollowResult['reason']): FollowResult => ({
    reason,
    opsApplied,
    opsSkipped,
    offset,
    fsm,
  });
  try {
    for (;;) {
      let next: NextItem;
      try {
        next = await readNext(reader, log);
      } catch (err) {
        if (signal.aborted) return result('interrupted');
        throw err;
      }
      const { item, op, payload } = next;
      if (item.type !== 'frame' || op === undefined) {
        const end = notAnOp(item, log, corruption);
        if (end !== undefined) {
          offset = end;
          opsSkipped++;
        }
        continue;
      }
      const applied = applyOp(fsm, op, item.payload, corruption);
      offset = op.lastOffset;
      if (applied !== 'applied') {
        opsSkipped++;
        continue;
      }
      applying = true;
      await applyToDir(dir, fsm, op, payload);
      applying = false;
      opsApplied++;
      options.onApplied?.(op);
      if (opKind(op) === 'noop') {
        // Recorders append no no-ops of their own: this is a Player's fenced hand-off.
        options.onHandoff?.(op.author, op.firstOffset);
        if (options.untilHandoff === true) return result('handoff');
      }
      if (signal.aborted) return result('interrupted');
    }
  } finally {
    // The tree is consistent unless an op failed half-way: then the marker stays (see above).
    if (!applying) await rm(staging, { recursive: true, force: true });
  }
}

/** Makes the staging directory and every live file's second name in it (see the top). */
async function linkLiveFiles(dir: string, fsm: FSM): Promise<void> {
  const staging = join(dir, STAGING_DIR);
  await onDisk('create directory', staging, () => mkdir(staging));
  for (const [fnode, node] of fsm.liveNodes) {
    const first = [...node.links].sort()[0];
    if (first === undefined) continue;
    const source = targetPath(dir, first);
    await onDisk(`hard-link ${source} to`, stagedPath(dir, fnode), () =>
      link(source, stagedPath(dir, fnode)),
    );
  }
}

interface NextItem {
  item: LogItem;
  /** The decoded op of a frame, and a Write's payload (read whole and checked). */
  op?: RecordedOp;
  payload?: Uint8Array;
}

async function readNext(reader: LogReader, log: string): Promise<NextItem> {
  const item = await reader.next(Number.POSITIVE_INFINITY);
  if (item.type !== 'frame') return { item };
  const op = decodeFrameOp(item, log);
  const payload = op.write !== undefined ? await readPayload(reader, op) : undefined;
  return { item, op, payload };
}

/**
 * What to do with a log item that is not an op: throws where the standby cannot go on, returns
 * the offset past garbage that lenient mode skips, or undefined ('head'/'interrupted': never here).
 */
function notAnOp(item: LogItem, log: string, corruption: CorruptionReporter): number | undefined {
  if (item.type === 'jump') {
    throw new FollowGapError(
      new JournalRangeMissingError(log, item.from, item.to, 'that the standby needs next'),
    );
  }
  if (item.type === 'garbage') {
    corruption(
      'garbage',
      log,
      item.offset,
      `${item.length} bytes do not start with the frame magic word`,
    );
    return item.offset + item.length;
  }
  if (item.type === 'oversized') {
    throw new CorruptLogError(
      'oversized-frame',
      log,
      item.offset,
      `a frame header declares more than the ${item.buffered} bytes buffered`,
    );
  }
  return undefined;
}

/** Reads a Write's payload whole and checks it against the op's CRC-32C. */
async function readPayload(reader: LogReader, op: RecordedOp): Promise<Uint8Array> {
  const write = op.write!;
  const bytes = new Uint8Array(write.length);
  let at = 0;
  const shortfall = await reader.readRaw(write.length, Number.POSITIVE_INFINITY, (piece) => {
    bytes.set(piece, at);
    at += piece.length;
  });
  if (shortfall !== undefined) {
    throw new CorruptLogError(
      'truncated-payload',
      op.log,
      op.firstOffset,
      `the ${write.length}-byte payload of Write op SeqNo ${op.seqNo} is cut short`,
    );
  }
  const expected = write.payloadCrc32c ?? 0;
  if (expected !== 0 && write.length > 0) {
    checkPayloadCrc(op, expected, crc32cUpdate(0, bytes));
  }
  return bytes;
}

/**
 * The Player's policy for what applyOp finds in a followed log: strict mode throws
 * CorruptLogError; lenient mode skips the op (a standby keeps no warnings).
 */
function followCorruption(lenient: boolean): CorruptionReporter {
  return (kind, log, offset, detail, cause) => {
    if (lenient) return kind;
    throw new CorruptLogError(
      kind,
      log,
      offset,
      detail,
      cause === undefined ? undefined : { cause },
    );
  };
}

/** Re-enacts an op the FSM applied on the live directory. */
async function applyToDir(
  dir: string,
  fsm: FSM,
  op: RecordedOp,
  payload: Uint8Array | undefined,
): Promise<void> {
  if (op.create !== undefined) {
    const staged = stagedPath(dir, op.seqNo);
    const handle = await onDisk('create file', staged, () => open(staged, 'wx', 0o666));
    await handle.close();
    await linkInto(dir, staged, op.create.path);
  } else if (op.link !== undefined) {
    await linkInto(dir, stagedPath(dir, op.link.fnode), op.link.path);
  } else if (op.unlink !== undefined) {
    const target = targetPath(dir, op.unlink.path);
    await onDisk('remove', target, () => unlink(target));
    if (!fsm.liveNodes.has(op.unlink.fnode)) {
      const staged = stagedPath(dir, op.unlink.fnode);
      await onDisk('remove', staged, () => unlink(staged));
    }
    await removeEmptyParents(dir, fsm, target);
  } else if (op.write !== undefined && payload !== undefined) {
    const staged = stagedPath(dir, op.write.fnode);
    const handle = await onDisk('open', staged, () => open(staged, 'r+'));
    try {
      let done = 0;
      while (done < payload.length) {
        const { bytesWritten } = await onDisk('write', staged, () =>
          handle.write(payload, done, payload.length - done, op.write!.offset + done),
        );
        done += bytesWritten;
      }
    } finally {
      await handle.close();
    }
  } else if (op.property !== undefined) {
    const target = targetPath(dir, op.property.path);
    const temp = join(dir, STAGING_DIR, 'property.tmp');
    await onDisk('write', temp, async () => {
      const handle = await open(temp, 'w', 0o666);
      try {
        await handle.writeFile(op.property!.content);
      } finally {
        await handle.close();
      }
    });
    await onDisk('create directory', dirname(target), () =>
      mkdir(dirname(target), { recursive: true }),
    );
    await onDisk('rename into place', target, () => rename(temp, target));
  } else if (op.truncate !== undefined) {
    const staged = stagedPath(dir, op.truncate.fnode);
    const handle = await onDisk('open', staged, () => open(staged, 'r+'));
    try {
      await onDisk('truncate', staged, () => handle.truncate(op.truncate!.length));
    } finally {
      await handle.close();
    }
  } else if (op.chmod !== undefined) {
    const staged = stagedPath(dir, op.chmod.fnode);
    await onDisk('chmod', staged, () => chmod(staged, op.chmod!.mode));
  } else if (op.mkdir !== undefined) {
    const target = targetPath(dir, op.mkdir.path);
    await onDisk('create directory', target, () => mkdir(target, { recursive: true }));
    await onDisk('chmod', target, () => chmod(target, op.mkdir!.mode));
  } else if (op.rmdir !== undefined) {
    const target = targetPath(dir, op.rmdir.path);
    // Already gone when the unlink of its last file removed it (removeEmptyParents).
    await onDisk('remove directory', target, () =>
      rmdir(target).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      }),
    );
  }
}

async function linkInto(dir: string, staged: string, recorded: string): Promise<void> {
  const target = targetPath(dir, recorded);
  await onDisk('create directory', dirname(target), () =>
    mkdir(dirname(target), { recursive: true }),
  );
  await onDisk(`hard-link ${staged} to`, target, () => link(staged, target));
}

/**
 * Removes the directories an unlink left empty, up to `dir`: a fresh playback creates
 * directories only as parents of files (or as recorded directories, which stay).
 */
async function removeEmptyParents(dir: string, fsm: FSM, removed: string): Promise<void> {
  for (let parent = dirname(removed); parent !== dir; parent = dirname(parent)) {
    const rel = relative(dir, parent);
    if (rel.startsWith('..') || rel === '') return;
    if (fsm.directories.has(`/${rel.split(sep).join('/')}`)) return;
    try {
      if (!(await lstat(parent)).isDirectory()) return;
      await rmdir(parent);
    } catch {
      return; // not empty (or gone): done
    }
  }
}
