/**
 * The ops of whole-directory changes, computed from the FSM (pure: the Recorder sequences them
 * as ONE append, so a Player applies all or none of them).
 *
 * A recursive removal is the unlinks of every file link under the directory and the rmdirs of
 * every recorded directory under it (deepest first). A directory rename is, for the directory
 * and each recorded directory under it, an mkdir at the new place (with its mode), then for each
 * file link under it a link at the new place, then the unlinks of the old links and the rmdirs
 * of the old directories. Files keep their identities (Fnodes), so their segments, modes and
 * hard links carry over. Gazette's FSM knows link and unlink: a Gazette player sees the files
 * move and only skips the directory ops (extensions, no-ops to it).
 */
import type { FSM } from './fsm.js';
import type { RecordedOp } from './wire/types.js';

/** The op-specific part of a RecordedOp; the Recorder stamps the rest. */
export type OpBody = Pick<
  RecordedOp,
  'create' | 'link' | 'unlink' | 'write' | 'property' | 'chmod' | 'truncate' | 'mkdir' | 'rmdir'
>;

function byPath<T>([a]: [string, T], [b]: [string, T]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether `path` is `dir` itself or below it. */
export function isAtOrUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + '/');
}

/** A property path at or under `dir`, if any (such a directory cannot be moved or removed). */
export function propertyUnder(fsm: FSM, dir: string): string | undefined {
  for (const path of fsm.properties.keys()) if (isAtOrUnder(path, dir)) return path;
  return undefined;
}

/** The ops removing the directory `dir` and everything recorded under it (rm -r). */
export function removeTreeOps(fsm: FSM, dir: string): OpBody[] {
  const ops: OpBody[] = [];
  const links = [...fsm.links].filter(([path]) => isAtOrUnder(path, dir)).sort(byPath);
  for (const [path, fnode] of links) ops.push({ unlink: { fnode, path } });
  const dirs = [...fsm.directories].filter(([path]) => isAtOrUnder(path, dir)).sort(byPath);
  // Children sort after their parent (the parent is a prefix): reversed, deepest first.
  for (const [path] of dirs.reverse()) ops.push({ rmdir: { path, mode: 0 } });
  return ops;
}

/**
 * The ops moving the directory `from` (whose permission bits are `mode`) to `to`, which is
 * missing or an empty directory it replaces.
 */
export function renameTreeOps(fsm: FSM, from: string, to: string, mode: number): OpBody[] {
  const moved = (path: string): string => to + path.slice(from.length);
  const ops: OpBody[] = [{ mkdir: { path: to, mode } }];
  const dirs = [...fsm.directories].filter(([path]) => path.startsWith(from + '/')).sort(byPath);
  for (const [path, dirMode] of dirs) ops.push({ mkdir: { path: moved(path), mode: dirMode } });
  const links = [...fsm.links].filter(([path]) => path.startsWith(from + '/')).sort(byPath);
  for (const [path, fnode] of links) ops.push({ link: { fnode, path: moved(path) } });
  for (const [path, fnode] of links) ops.push({ unlink: { fnode, path } });
  for (const [path] of dirs.reverse()) ops.push({ rmdir: { path, mode: 0 } });
  if (fsm.directories.has(from)) ops.push({ rmdir: { path: from, mode: 0 } });
  return ops;
}
