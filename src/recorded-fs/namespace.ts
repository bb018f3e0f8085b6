/**
 * The calls that change what paths name: rename, link, unlink, rm, rmdir, mkdir, truncate by
 * path. Each validates first (NotSupportedError, UntrackedFileError, InvalidArgumentError with
 * reason PathOutsideDir, before anything is touched), runs the real call, then records exactly
 * what it did. File-level calls hold the namespace gate shared; directory-level ones (renaming or
 * removing a whole directory) hold it exclusively, so no other call can put a recorded file into
 * the directory meanwhile.
 */
import { dirname } from 'node:path';
import { NotSupportedError, PropertyNotUtf8Error, UntrackedFileError } from '../recorder-errors.js';
import type { FsCore, RecordedPath } from './core.js';
import { DEFAULT_FILE_MODE } from './flags.js';
import { lstatOrUndefined, permissionsOf } from './metadata.js';
import { invalidArgType, systemError } from './node-errors.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function refuseProperty(
  core: FsCore,
  { abs, rel }: RecordedPath,
  what: string,
  detail: string,
): void {
  if (core.recorder.isPropertyPath(abs))
    throw new NotSupportedError(what, `${rel} is a property path, ${detail}`);
}

/** A property path is a sink: a directory holding one cannot be moved or removed whole. */
function refusePropertyUnder(core: FsCore, { rel }: RecordedPath, what: string): void {
  const prefix = rel + '/';
  for (const path of core.recorder.fsm.properties.keys()) {
    if (path.startsWith(prefix)) {
      throw new NotSupportedError(
        what,
        `${rel} holds the property path ${path}, which can only be replaced, never removed or moved`,
      );
    }
  }
}

/**
 * Renames a file or a directory. Renaming onto a property path (e.g. IDENTITY) records the file's
 * content, which must be valid UTF-8. A directory's rename records the move of everything
 * recorded under it, in one append (Recorder.recordRenameTree).
 */
export async function rename(core: FsCore, oldPath: unknown, newPath: unknown): Promise<void> {
  const from = core.path(oldPath, 'oldPath');
  const to = core.path(newPath, 'newPath');
  core.assertUsable();
  refuseProperty(core, from, 'rename', 'which cannot be renamed');
  if (core.recorder.fnodeAt(from.abs) === undefined && from.rel !== to.rel) {
    const stats = await lstatOrUndefined(core, from.abs);
    // A missing source: the base reports it, with the error the kernel gives first (a missing
    // or non-directory parent of the target may come before the missing source).
    if (stats === undefined) return core.base.rename(from.abs, to.abs);
    if (stats.isDirectory()) {
      return core.registry.gate.exclusive(async () => {
        core.assertUsable();
        refusePropertyUnder(core, from, 'rename of a directory');
        refuseProperty(core, to, 'rename of a directory', 'which only a file can be renamed onto');
        refuseMovingOntoProperty(core, from, to);
        await refuseReplacing(core, from, to, true);
        await core.base.rename(from.abs, to.abs);
        core.recorder.recordRenameTree(from.abs, to.abs, permissionsOf(stats));
      });
    }
  }
  return core.registry.gate.shared(() => renameFile(core, from, to));
}

/** A directory rename must not put a recorded file onto a property path (it is a sink). */
function refuseMovingOntoProperty(core: FsCore, from: RecordedPath, to: RecordedPath): void {
  for (const path of core.recorder.fsm.links.keys()) {
    if (!path.startsWith(from.rel + '/')) continue;
    const moved = to.rel + path.slice(from.rel.length);
    if (core.recorder.isPropertyPath(core.absolute(moved))) {
      throw new NotSupportedError(
        'rename of a directory',
        `it would move ${path} onto the property path ${moved}, which only a rename of a ` +
          `single file onto it can create`,
      );
    }
  }
}

/**
 * On a base other than node:fs, fails as rename(2) does when the target's parent is missing or
 * not a directory, a directory would move into itself, the target is of the other kind (a
 * directory for a file, ENOTDIR/EISDIR), or a directory that is not empty (ENOTEMPTY): memfs
 * would do it, and recorded files would vanish without a record.
 */
async function refuseReplacing(
  core: FsCore,
  from: RecordedPath,
  to: RecordedPath,
  directory: boolean,
): Promise<void> {
  if (core.kernel) return;
  const fail = (code: string, message: string): Error =>
    systemError(code, 'rename', message, `${from.abs}' -> '${to.abs}`);
  await checkParent(core, 'rename', from.abs, to.abs);
  if (directory && to.rel.startsWith(from.rel + '/')) throw fail('EINVAL', 'invalid argument');
  const target = await lstatOrUndefined(core, to.abs);
  if (target === undefined) return;
  if (directory && !target.isDirectory()) throw fail('ENOTDIR', 'not a directory');
  if (!directory && target.isDirectory()) throw fail('EISDIR', 'illegal operation on a directory');
  if (directory && (await core.base.readdir(to.abs)).length > 0) {
    throw fail('ENOTEMPTY', 'directory not empty');
  }
}

async function renameFile(core: FsCore, from: RecordedPath, to: RecordedPath): Promise<void> {
  core.assertUsable();
  const { recorder, base } = core;
  if (from.rel === to.rel) {
    await base.rename(from.abs, to.abs); // POSIX: a no-op when the file exists.
    return;
  }
  const fnode = recorder.fnodeAt(from.abs);
  if (fnode === undefined) {
    const stats = await base.lstat(from.abs);
    if (stats.isDirectory()) {
      throw new NotSupportedError('rename', `${from.rel} became a directory meanwhile`);
    }
    throw new UntrackedFileError(from.abs, 'rename');
  }
  if (recorder.fnodeAt(to.abs) === fnode) {
    throw new NotSupportedError(
      'rename',
      `${from.rel} and ${to.rel} are links to the same file, where file systems disagree on the ` +
        `effect; unlink one of them instead`,
    );
  }
  await refuseReplacing(core, from, to, false);
  let content: string | undefined;
  if (recorder.isPropertyPath(to.abs)) {
    // A property is recorded as the content the file has now: the file must not change after.
    if (recorder.linkCount(fnode) > 1 || core.registry.hasHandles(fnode)) {
      throw new NotSupportedError(
        `rename onto property path ${to.rel}`,
        `${from.rel} is open for writing or has other hard links, through which it could ` +
          `change after its content is recorded as the property; close it (or unlink the other ` +
          `links) first`,
      );
    }
    // A property is recovered with the default mode of a created file.
    const mode = recorder.fsm.liveNodes.get(fnode)?.mode;
    if (mode !== undefined && mode !== (DEFAULT_FILE_MODE & ~core.umask())) {
      throw new NotSupportedError(
        `rename onto property path ${to.rel}`,
        `${from.rel} has mode 0o${mode.toString(8)}, and a property is recorded by its content ` +
          `only (it is recovered with the default mode); chmod it to the default first`,
      );
    }
    const bytes = await base.readFile(from.abs);
    try {
      content = strictUtf8.decode(bytes);
    } catch {
      throw new PropertyNotUtf8Error(from.abs, to.abs);
    }
  }
  await base.rename(from.abs, to.abs);
  const target = recorder.fnodeAt(to.abs);
  recorder.recordRename(from.abs, to.abs, content);
  if (target !== undefined) core.registry.dropIfDead(recorder, target);
  if (content !== undefined) core.registry.dropIfDead(recorder, fnode);
}

/** Adds a hard link `newPath` to the file at `existingPath`. */
export async function link(core: FsCore, existingPath: unknown, newPath: unknown): Promise<void> {
  const from = core.path(existingPath, 'existingPath');
  const to = core.path(newPath, 'newPath');
  return core.registry.gate.shared(async () => {
    core.assertUsable();
    refuseProperty(core, to, 'link', 'which cannot be linked');
    refuseProperty(core, from, 'link', 'which cannot be linked elsewhere');
    if (core.recorder.fnodeAt(from.abs) === undefined) {
      const stats = await core.base.lstat(from.abs);
      if (stats.isFile()) throw new UntrackedFileError(from.abs, 'link');
      if (stats.isDirectory() && !core.kernel) await refuseDirectoryLink(core, from.abs, to.abs);
      await core.base.link(from.abs, to.abs); // Fails for what is not a file.
      return;
    }
    if (!core.kernel) await checkParent(core, 'link', from.abs, to.abs);
    await core.base.link(from.abs, to.abs);
    core.recorder.recordLink(from.abs, to.abs);
  });
}

/**
 * Fails as the kernel does when the new path's parent is missing or not a directory, whatever
 * the base (memfs would put a name under a file, and the recording would follow it).
 */
async function checkParent(core: FsCore, syscall: string, from: string, to: string): Promise<void> {
  const parent = await lstatOrUndefined(core, dirname(to));
  const fail = (code: string, message: string): Error =>
    systemError(code, syscall, message, `${from}' -> '${to}`);
  if (parent === undefined) throw fail('ENOENT', 'no such file or directory');
  if (!parent.isDirectory()) throw fail('ENOTDIR', 'not a directory');
}

/**
 * A directory has no hard links: fails as link(2) does, in its order (the new path's parent,
 * then the new path, then EPERM), whatever the base (memfs would link it).
 */
async function refuseDirectoryLink(core: FsCore, from: string, to: string): Promise<never> {
  const fail = (code: string, message: string): Error =>
    systemError(code, 'link', message, `${from}' -> '${to}`);
  await checkParent(core, 'link', from, to);
  if ((await lstatOrUndefined(core, to)) !== undefined) throw fail('EEXIST', 'file already exists');
  throw fail('EPERM', 'operation not permitted');
}

/** Removes a file. */
export async function unlink(core: FsCore, path: unknown): Promise<void> {
  const target = core.path(path, 'path');
  return core.registry.gate.shared(async () => {
    core.assertUsable();
    refuseProperty(core, target, 'unlink', 'which cannot be removed');
    await core.base.unlink(target.abs);
    core.recordRemoval(target.abs);
  });
}

export interface RmOptions {
  force?: boolean;
  recursive?: boolean;
  maxRetries?: number;
  retryDelay?: number;
}

/**
 * Removes a file, or (recursive) a directory and everything in it, recorded in one append
 * (Recorder.recordRemoveTree); `force` ignores a missing path.
 */
export async function rm(core: FsCore, path: unknown, options?: RmOptions): Promise<void> {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw invalidArgType('options', 'of type object', options);
  }
  const target = core.path(path, 'path');
  core.assertUsable();
  refuseProperty(core, target, 'rm', 'which cannot be removed');
  const stats = await lstatOrUndefined(core, target.abs);
  if (stats === undefined && options?.force === true) return;
  if (stats?.isDirectory() === true && options?.recursive === true) {
    return core.registry.gate.exclusive(async () => {
      core.assertUsable();
      refusePropertyUnder(core, target, 'rm -r of a directory');
      await removeTree(core, target, () => core.base.rm(target.abs, options));
    });
  }
  return core.registry.gate.shared(async () => {
    core.assertUsable();
    // A missing path or a directory without `recursive`: the base reports it, nothing changes.
    await core.base.rm(target.abs, options);
    core.recordRemoval(target.abs);
  });
}

/** Removes an empty directory (`recursive`, deprecated in Node: as rm -r). */
export async function rmdir(
  core: FsCore,
  path: unknown,
  options?: { recursive?: boolean },
): Promise<void> {
  const target = core.path(path, 'path');
  core.assertUsable();
  if (options?.recursive === true) {
    return core.registry.gate.exclusive(async () => {
      core.assertUsable();
      refusePropertyUnder(core, target, 'rmdir -r of a directory');
      await removeTree(core, target, () =>
        (core.base.rmdir as (p: string, o: unknown) => Promise<void>)(target.abs, options),
      );
    });
  }
  return core.registry.gate.shared(async () => {
    core.assertUsable();
    await core.base.rmdir(target.abs);
    core.recorder.recordRmdir(target.abs);
  });
}

/**
 * Runs a recursive removal and records it. If it fails part-way, what it did remove is recorded
 * (each file link and recorded directory that is gone), so the recording still matches.
 */
async function removeTree(
  core: FsCore,
  target: RecordedPath,
  remove: () => Promise<void>,
): Promise<void> {
  try {
    await remove();
  } catch (err) {
    await recordWhatIsGone(core, target.rel);
    throw err;
  }
  const prefix = target.rel + '/';
  const fnodes = [...core.recorder.fsm.links]
    .filter(([p]) => p.startsWith(prefix))
    .map(([, f]) => f);
  core.recorder.recordRemoveTree(target.abs);
  for (const fnode of fnodes) core.registry.dropIfDead(core.recorder, fnode);
}

async function recordWhatIsGone(core: FsCore, rel: string): Promise<void> {
  const { recorder } = core;
  const links = [...recorder.fsm.links.keys()].filter((p) => p.startsWith(rel + '/')).sort();
  for (const path of links) {
    const abs = core.absolute(path);
    if ((await lstatOrUndefined(core, abs)) === undefined) core.recordRemoval(abs);
  }
  const dirs = [...recorder.fsm.directories.keys()]
    .filter((p) => p === rel || p.startsWith(rel + '/'))
    .sort()
    .reverse();
  for (const path of dirs) {
    const abs = core.absolute(path);
    if ((await lstatOrUndefined(core, abs)) === undefined) recorder.recordRmdir(abs);
  }
}
