/**
 * Calls that change metadata or directories, recorded with the extension ops (chmod, truncate,
 * mkdir, rmdir; see proto/recorded_op.proto): chmod and lchmod, mkdir (recursive too), mkdtemp,
 * and truncate by path to any length. Each validates first (typed errors before anything is
 * touched), runs the real call, then records what it did.
 */
import { dirname } from 'node:path';
import { errorCode } from '../errors.js';
import { NotSupportedError, UntrackedFileError } from '../recorder-errors.js';
import type { Fnode } from '../wire/types.js';
import { mutationPath } from './args.js';
import type { FsCore, RecordedPath } from './core.js';
import { DEFAULT_FILE_MODE, parseMode } from './flags.js';
import { invalidArgType } from './node-errors.js';
import type { BaseStats } from './types.js';

function isNotFound(err: unknown): boolean {
  return errorCode(err) === 'ENOENT';
}

export async function lstatOrUndefined(core: FsCore, abs: string): Promise<BaseStats | undefined> {
  try {
    return await core.base.lstat(abs);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Permission bits of a stat result (a base without modes reports none: 0). */
export function permissionsOf(stats: { mode?: number | bigint }): number {
  return Number(stats.mode ?? 0) & 0o7777;
}

function requiredMode(mode: unknown): number {
  const parsed = parseMode(mode);
  if (parsed === undefined) {
    throw invalidArgType('mode', 'a 32-bit unsigned integer or an octal string', mode);
  }
  return parsed;
}

export function refuseProperty(core: FsCore, { abs, rel }: RecordedPath, what: string): void {
  if (core.recorder.isPropertyPath(abs)) {
    throw new NotSupportedError(what, `${rel} is a property path, recorded by its content only`);
  }
}

/**
 * chmod (or lchmod: `call` names the base's function). A recorded file gets a chmod op, a
 * directory an mkdir op carrying its new mode; an unrecorded file cannot be (UntrackedFileError).
 */
export async function chmod(
  core: FsCore,
  path: unknown,
  mode: unknown,
  call: 'chmod' | 'lchmod' = 'chmod',
): Promise<void> {
  const perm = requiredMode(mode);
  const target = core.path(path, 'path');
  core.assertUsable();
  refuseProperty(core, target, call);
  const run = (core.base as unknown as Record<string, unknown>)[call];
  if (typeof run !== 'function') {
    throw new NotSupportedError(call, `the base file system has no ${call}`);
  }
  const apply = (): Promise<void> =>
    (run as (p: string, m: number) => Promise<void>).call(core.base, target.abs, perm);
  return core.registry.gate.shared(async () => {
    core.assertUsable();
    const fnode = core.recorder.fnodeAt(target.abs);
    if (fnode !== undefined) return chmodFnode(core, fnode, perm, apply);
    const stats = await lstatOrUndefined(core, target.abs);
    if (stats?.isFile() === true) throw new UntrackedFileError(target.abs, call);
    if (stats?.isSymbolicLink?.() === true) {
      throw new NotSupportedError(call, `${target.rel} is a symbolic link, which is not recorded`);
    }
    await apply(); // A missing path fails here, as on the base.
    if (stats?.isDirectory() === true) core.recorder.recordMkdir(target.abs, perm);
  });
}

/**
 * Runs `apply` (a chmod of the file `fnode`) in the file's queue, after which the file may have a
 * new identity (a truncating open or a re-record waited before it), and records it.
 */
export function chmodFnode(
  core: FsCore,
  fnode: Fnode,
  perm: number,
  apply: () => Promise<void>,
): Promise<void> {
  return core.registry.serialized(fnode, async () => {
    core.assertUsable();
    const latest = core.registry.latest(fnode);
    await apply();
    if (core.recorder.linkCount(latest) > 0) core.recorder.recordChmod(latest, perm);
  });
}

/**
 * Records the permission bits a just created file got (`actual`) unless they are what the
 * recording already assumes: its recorded mode, or the default of a create without a mode.
 */
export function noteCreatedMode(core: FsCore, fnode: Fnode, actual: number): void {
  const node = core.recorder.fsm.liveNodes.get(fnode);
  if (node === undefined) return;
  const assumed = node.mode ?? DEFAULT_FILE_MODE & ~core.umask();
  if (actual !== assumed) core.recorder.recordChmod(fnode, actual);
}

/**
 * Creates a directory and records it (mkdir op, with the mode it got); with `recursive`, every
 * directory it made. The recorded directory itself and its ancestors may be made too (not
 * recorded: they are the playback's target).
 */
export async function mkdir(
  core: FsCore,
  path: unknown,
  options?: { recursive?: boolean; mode?: number | string } | number | string | null,
): Promise<string | undefined> {
  const opts =
    typeof options === 'object' && options !== null ? options : { mode: options ?? undefined };
  const mode = parseMode(opts.mode);
  const abs = mutationPath(path);
  const outside = core.isDirOrAncestor(abs);
  if (!outside) core.path(abs, 'path');
  core.assertUsable();
  return core.registry.gate.shared(async () => {
    core.assertUsable();
    // Which directories a recursive mkdir will make: those missing now, from the deepest up
    // (its return value names only one, and memfs's names another than node:fs's).
    const missing: string[] = [];
    if (!outside && opts.recursive === true) {
      for (let d = abs; !core.isDirOrAncestor(d); d = dirname(d)) {
        if ((await lstatOrUndefined(core, d)) !== undefined) break;
        missing.unshift(d);
      }
    }
    for (const d of opts.recursive === true ? missing : outside ? [] : [abs]) {
      refuseProperty(core, core.path(d), 'mkdir');
    }
    const created = (await core.base.mkdir(abs, { ...opts, mode })) as string | undefined;
    if (outside) return created;
    for (const d of opts.recursive === true ? missing : [abs]) await recordDirectory(core, d);
    return created;
  });
}

async function recordDirectory(core: FsCore, abs: string): Promise<void> {
  const stats = await core.base.lstat(abs);
  core.recorder.recordMkdir(abs, permissionsOf(stats));
}

/** mkdtemp under the recorded directory: the directory it makes is recorded (mode 0700). */
export async function mkdtemp(core: FsCore, prefix: unknown, options: unknown): Promise<string> {
  // The directory made is the prefix and six characters (after a trailing '/' too).
  core.path(typeof prefix === 'string' ? `${prefix}XXXXXX` : prefix, 'prefix');
  core.assertUsable();
  const run = (core.base as unknown as Record<string, unknown>).mkdtemp;
  if (typeof run !== 'function') {
    throw new NotSupportedError('mkdtemp', 'the base file system has no mkdtemp');
  }
  return core.registry.gate.shared(async () => {
    core.assertUsable();
    const made = await (run as (p: unknown, o: unknown) => Promise<string | Buffer>).call(
      core.base,
      prefix,
      options,
    );
    const abs = typeof made === 'string' ? made : made.toString();
    await recordDirectory(core, abs);
    return made as string;
  });
}

/**
 * Truncates a file by path to `len` bytes (negative: 0). A recorded file: see
 * FsCore.truncateFnode. An unrecorded one may only be emptied (a new, empty file); keeping some
 * of its unrecorded bytes is refused (UntrackedFileError) before touching it.
 */
export async function truncate(core: FsCore, path: unknown, len: unknown = 0): Promise<void> {
  if (typeof len !== 'number' || !Number.isInteger(len))
    throw invalidArgType('len', 'an integer', len);
  const length = Math.max(0, len);
  const target = core.path(path, 'path');
  core.assertUsable();
  refuseProperty(core, target, 'truncate');
  return core.registry.gate.shared(async () => {
    const known = core.recorder.fnodeAt(target.abs);
    if (known !== undefined) {
      return core.truncateFnode(known, length, () => core.base.truncate(target.abs, length));
    }
    if (length > 0) {
      const stats = await lstatOrUndefined(core, target.abs);
      if (stats?.isFile() === true && Number(stats.size) > 0) {
        throw new UntrackedFileError(target.abs, `truncate(${length})`);
      }
    }
    await core.base.truncate(target.abs, length);
    const fnode = core.recorder.recordCreate(target.abs);
    core.registry.setSize(fnode, 0);
    if (length > 0) {
      core.recorder.recordTruncate(fnode, length);
      core.registry.setSize(fnode, length);
    }
  });
}
