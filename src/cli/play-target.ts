/**
 * The target directory of `play`: what it holds now, where it really is (symbolic links
 * followed), that it is neither a log directory nor related to one, and how a recovered tree
 * replaces it.
 */
import { lstat, readdir, realpath, rename } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { syncDir } from '../durable-file.js';
import { errorCode, RecoveryLogError } from '../errors.js';
import { STAGING_DIR } from '../player.js';
import { UsageError } from './args.js';
import { asFileError, errnoOf, FileSystemError, onFile } from './file-errors.js';
import { partialPathFor, removePartial, trackPartial, untrackPartial } from './partial.js';

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
    if (errorCode(err) === 'ENOENT') return;
    if (errorCode(err) === 'ENOTDIR') {
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
