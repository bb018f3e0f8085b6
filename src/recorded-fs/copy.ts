/**
 * copyFile and cp through RecordedFs: what they create is recorded (a create and the copied bytes
 * per file, through RecordedFs's own open and writes; directories through mkdir). The source may
 * be anywhere; what cannot be recorded (symbolic links, special files, permissions other than the
 * default, kept timestamps) is refused before anything is copied.
 */
import { constants } from 'node:fs';
import { dirname, join, parse, resolve, sep } from 'node:path';
import { errorCode } from '../errors.js';
import { NotSupportedError } from '../recorder-errors.js';
import { mutationPath } from './args.js';
import type { FsCore } from './core.js';
import { cpError, invalidArgType, outOfRange, systemError } from './node-errors.js';
import { chmod, mkdir, noteCreatedMode, permissionsOf } from './metadata.js';
import { unlink } from './namespace.js';
import type { BaseStats } from './types.js';

const CHUNK = 1024 * 1024;

function isNotFound(err: unknown): boolean {
  return errorCode(err) === 'ENOENT';
}

async function statOrUndefined(
  stat: (p: string) => Promise<BaseStats>,
  path: string,
): Promise<BaseStats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function sameFile(a: BaseStats, b: BaseStats): boolean {
  return a.ino !== undefined && a.dev !== undefined && a.ino === b.ino && a.dev === b.dev;
}

/** Copies a file: a recorded create (COPYFILE_EXCL: exclusive) and the copied bytes. */
export async function copyFile(
  core: FsCore,
  src: unknown,
  dest: unknown,
  mode: unknown = 0,
): Promise<void> {
  if (typeof mode !== 'number' || !Number.isInteger(mode))
    throw invalidArgType('mode', 'an integer', mode);
  if (mode < 0 || mode > 7) throw outOfRange('mode', '>= 0 && <= 7', mode);
  if ((mode & constants.COPYFILE_FICLONE_FORCE) !== 0) {
    throw new NotSupportedError('copyFile', 'COPYFILE_FICLONE_FORCE (a recorded copy is a write)');
  }
  const from = mutationPath(src, 'src');
  const to = core.path(dest, 'dest').abs;
  core.assertUsable();
  const exclusive = (mode & constants.COPYFILE_EXCL) !== 0;
  const stats = await core.base.stat(from);
  if (stats.isDirectory()) {
    // As libuv does: the destination is opened (created, or truncated), then the copy fails,
    // then the destination is removed, even one that existed before.
    const output = await core.open(to, exclusive ? 'wx' : 'w', undefined);
    await output.close();
    await unlink(core, to);
    throw systemError(
      'EISDIR',
      'copyfile',
      'illegal operation on a directory',
      `${from}' -> '${to}`,
    );
  }
  const existing = await statOrUndefined((p) => core.base.stat(p), to);
  if (existing !== undefined && sameFile(stats, existing)) {
    // The OS copies nothing onto the file itself (and refuses it only for an exclusive copy).
    if (exclusive)
      throw systemError('EEXIST', 'copyfile', 'file already exists', `${from}' -> '${to}`);
    return;
  }
  const input = await core.base.open(from, 'r');
  try {
    const output = await core.open(to, exclusive ? 'wx' : 'w', undefined);
    try {
      const buffer = Buffer.allocUnsafe(CHUNK);
      for (let at = 0; ;) {
        const { bytesRead } = await input.read(buffer, 0, CHUNK, at);
        if (bytesRead === 0) break;
        await output._writeAll(buffer.subarray(0, bytesRead));
        at += bytesRead;
      }
      // As libuv does, the copy gets the source's permission bits (recorded unless default).
      const perm = permissionsOf(stats);
      if (stats.mode !== undefined && output.fnode !== undefined && output._base.chmod) {
        await output._base.chmod(perm);
        noteCreatedMode(core, output.fnode, perm);
      }
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}

export interface CpOptions {
  dereference?: boolean;
  errorOnExist?: boolean;
  filter?: (source: string, destination: string) => boolean | Promise<boolean>;
  force?: boolean;
  mode?: number;
  preserveTimestamps?: boolean;
  recursive?: boolean;
  verbatimSymlinks?: boolean;
}

function kindOf(stats: BaseStats): string {
  const s = stats as BaseStats & Record<string, (() => boolean) | undefined>;
  for (const kind of [
    'isSymbolicLink',
    'isSocket',
    'isFIFO',
    'isCharacterDevice',
    'isBlockDevice',
  ]) {
    if (s[kind]?.() === true) return kind.slice(2);
  }
  return stats.isDirectory() ? 'Directory' : stats.isFile() ? 'File' : 'Unknown';
}

/**
 * Refuses (before anything is copied) a source tree holding something a recovery log cannot
 * record: symbolic links (kept as links unless `dereference`), special files. Sockets and FIFOs
 * are left to the copy, which fails on them as Node's does.
 */
async function checkSource(core: FsCore, path: string, options: CpOptions): Promise<void> {
  const stat = options.dereference === true ? core.base.stat : core.base.lstat;
  const stats = await stat.call(core.base, path);
  const kind = kindOf(stats);
  if (kind === 'SymbolicLink') {
    throw new NotSupportedError(
      'cp of a symbolic link',
      `${path} is one; a recovery log records regular files and hard links only (pass dereference: true to copy what it points to)`,
    );
  }
  if (kind === 'CharacterDevice' || kind === 'BlockDevice') {
    throw new NotSupportedError('cp of a device', `${path} is a device node`);
  }
  if (kind !== 'Directory' || options.recursive !== true) return;
  for (const name of (await core.base.readdir(path)).map(String)) {
    await checkSource(core, join(path, name), options);
  }
}

/** Copies like fsPromises.cp (Node's algorithm), recording what it creates. */
export async function cp(
  core: FsCore,
  src: unknown,
  dest: unknown,
  options: CpOptions = {},
): Promise<void> {
  if (typeof options !== 'object' || options === null)
    throw invalidArgType('options', 'of type object', options);
  if (options.filter !== undefined && typeof options.filter !== 'function') {
    throw invalidArgType('options.filter', 'of type function', options.filter);
  }
  const opts: CpOptions = {
    force: true,
    errorOnExist: false,
    recursive: false,
    dereference: false,
    ...options,
  };
  const from = mutationPath(src, 'src');
  const to = core.path(dest, 'dest').abs;
  if (opts.preserveTimestamps === true) {
    throw new NotSupportedError('cp with preserveTimestamps', 'file times are not recorded');
  }
  core.assertUsable();
  // A source that cannot be read is left to the copy, to fail with the error Node's cp gives.
  const readable = await core.base.lstat(from).then(
    () => true,
    () => false,
  );
  if (readable) await checkSource(core, from, opts);
  return new Copier(core, opts).run(from, to);
}

class Copier {
  constructor(
    readonly core: FsCore,
    readonly opts: CpOptions,
  ) {}

  stat(path: string): Promise<BaseStats> {
    return this.opts.dereference === true ? this.core.base.stat(path) : this.core.base.lstat(path);
  }

  async run(src: string, dest: string): Promise<void> {
    const { srcStat, destStat, skipped } = await this.checkPaths(src, dest);
    if (skipped) return;
    await this.checkParentPaths(src, srcStat!, dest);
    const parent = dirname(dest);
    if ((await statOrUndefined((p) => this.core.base.stat(p), parent)) === undefined) {
      await mkdir(this.core, parent, { recursive: true });
    }
    await this.copy(destStat, src, dest);
  }

  async checkPaths(
    src: string,
    dest: string,
  ): Promise<{ srcStat?: BaseStats; destStat?: BaseStats; skipped: boolean }> {
    if (this.opts.filter !== undefined && !(await this.opts.filter(src, dest)))
      return { skipped: true };
    // Both at once, as Node's cp does (so the error reported first is the same).
    const [srcStat, destStat] = await Promise.all([
      this.stat(src),
      statOrUndefined((p) => this.stat(p), dest),
    ]);
    if (destStat !== undefined) {
      if (sameFile(srcStat, destStat))
        throw cpError('ERR_FS_CP_EINVAL', 'src and dest cannot be the same', dest);
      if (srcStat.isDirectory() && !destStat.isDirectory()) {
        throw cpError(
          'ERR_FS_CP_DIR_TO_NON_DIR',
          `cannot overwrite non-directory ${dest} with directory ${src}`,
          dest,
        );
      }
      if (!srcStat.isDirectory() && destStat.isDirectory()) {
        throw cpError(
          'ERR_FS_CP_NON_DIR_TO_DIR',
          `cannot overwrite directory ${dest} with non-directory ${src}`,
          dest,
        );
      }
    }
    if (srcStat.isDirectory() && isSubdir(src, dest)) {
      throw cpError(
        'ERR_FS_CP_EINVAL',
        `cannot copy ${src} to a subdirectory of self ${dest}`,
        dest,
      );
    }
    return { srcStat, destStat, skipped: false };
  }

  async checkParentPaths(src: string, srcStat: BaseStats, dest: string): Promise<void> {
    const srcParent = resolve(dirname(src));
    const destParent = resolve(dirname(dest));
    if (destParent === srcParent || destParent === parse(destParent).root) return;
    const destStat = await statOrUndefined((p) => this.core.base.stat(p), destParent);
    if (destStat === undefined) return;
    if (sameFile(srcStat, destStat)) {
      throw cpError(
        'ERR_FS_CP_EINVAL',
        `cannot copy ${src} to a subdirectory of self ${dest}`,
        dest,
      );
    }
    await this.checkParentPaths(src, srcStat, destParent);
  }

  async copy(destStat: BaseStats | undefined, src: string, dest: string): Promise<void> {
    const srcStat = await this.stat(src);
    if (srcStat.isDirectory()) {
      if (this.opts.recursive !== true) {
        throw cpError(
          'ERR_FS_EISDIR',
          `Recursive option is required to copy a directory: ${src}`,
          src,
        );
      }
      if (destStat === undefined) await mkdir(this.core, dest);
      for (const name of (await this.core.base.readdir(src)).map(String)) {
        const item = await this.checkPaths(join(src, name), join(dest, name));
        if (!item.skipped) await this.copy(item.destStat, join(src, name), join(dest, name));
      }
      // As Node's cp: a directory it made gets the source's permission bits, once filled.
      if (destStat === undefined && srcStat.mode !== undefined) {
        await chmod(this.core, dest, permissionsOf(srcStat));
      }
      return;
    }
    if (!srcStat.isFile()) {
      const kind = kindOf(srcStat);
      const code =
        kind === 'Socket'
          ? 'ERR_FS_CP_SOCKET'
          : kind === 'FIFO'
            ? 'ERR_FS_CP_FIFO_PIPE'
            : 'ERR_FS_CP_UNKNOWN';
      throw cpError(code, `cannot copy a ${kind.toLowerCase()}: ${dest}`, dest);
    }
    if (destStat !== undefined) {
      if (this.opts.force === true) {
        await unlink(this.core, dest);
      } else if (this.opts.errorOnExist === true) {
        throw cpError('ERR_FS_CP_EEXIST', `${dest} already exists`, dest);
      } else {
        return;
      }
    }
    await copyFile(this.core, src, dest, this.opts.mode ?? 0);
  }
}

function isSubdir(src: string, dest: string): boolean {
  const srcParts = resolve(src).split(sep).filter(Boolean);
  const destParts = resolve(dest).split(sep).filter(Boolean);
  return srcParts.every((part, i) => destParts[i] === part);
}
