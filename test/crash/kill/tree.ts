/**
 * A directory reduced to what recovery must reproduce: regular files by path, their bytes (as a
 * digest), and which paths are hard links of one file. Directories are left out: the log records
 * files, and a Player creates directories only as parents of files. Anything that is neither a
 * file nor a directory is kept (as kind 'other') so that it shows up as a difference.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeEntry {
  /** Recorded form: '/a/b'. */
  path: string;
  kind: 'file' | 'other';
  size: number;
  /** SHA-1 of the bytes, hex (enough to tell states of a random workload apart). */
  hash: string;
  /** Smallest path of the entry's hard-link group (itself for a single link). */
  group: string;
}

export interface TreeSnapshot {
  entries: TreeEntry[];
  digest: string;
}

export function hashBytes(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}

/** Builds a snapshot from entries whose `group` holds any identity key (inode, fnode). */
export function snapshotOf(
  files: readonly {
    path: string;
    kind: 'file' | 'other';
    size: number;
    hash: string;
    id: string;
  }[],
): TreeSnapshot {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const leader = new Map<string, string>();
  for (const f of sorted) if (!leader.has(f.id)) leader.set(f.id, f.path);
  const entries = sorted.map((f) => ({
    path: f.path,
    kind: f.kind,
    size: f.size,
    hash: f.hash,
    group: leader.get(f.id)!,
  }));
  const digest = createHash('sha1')
    .update(entries.map((e) => `${e.path}\0${e.kind}\0${e.size}\0${e.hash}\0${e.group}\n`).join(''))
    .digest('hex');
  return { entries, digest };
}

export interface DirFile {
  path: string;
  ino: number;
  bytes: Uint8Array;
}

/** Reads every regular file under `root` (hard links share `ino`), plus non-file oddities. */
export async function readDir(root: string): Promise<{ files: DirFile[]; others: string[] }> {
  const files: DirFile[] = [];
  const others: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = await readdir(join(root, rel));
    for (const name of names) {
      const path = `${rel}/${name}`;
      const st = await lstat(join(root, path));
      if (st.isDirectory()) await walk(path);
      else if (st.isFile())
        files.push({ path, ino: st.ino, bytes: await readFile(join(root, path)) });
      else others.push(path);
    }
  };
  await walk('');
  return { files, others };
}

export function snapshotOfDir(contents: { files: DirFile[]; others: string[] }): TreeSnapshot {
  return snapshotOf([
    ...contents.files.map((f) => ({
      path: f.path,
      kind: 'file' as const,
      size: f.bytes.length,
      hash: hashBytes(f.bytes),
      id: `ino:${f.ino}`,
    })),
    ...contents.others.map((path) => ({
      path,
      kind: 'other' as const,
      size: 0,
      hash: '',
      id: path,
    })),
  ]);
}

export async function snapshotTree(root: string): Promise<TreeSnapshot> {
  return snapshotOfDir(await readDir(root));
}

/** A short human-readable account of how two snapshots differ (for violation reports). */
export function describeDifference(expected: TreeSnapshot, actual: TreeSnapshot): string {
  const want = new Map(expected.entries.map((e) => [e.path, e]));
  const got = new Map(actual.entries.map((e) => [e.path, e]));
  const lines: string[] = [];
  for (const [path, e] of want) {
    const a = got.get(path);
    if (a === undefined) lines.push(`missing ${path} (${e.size} B)`);
    else if (a.hash !== e.hash || a.size !== e.size) {
      lines.push(
        `content of ${path}: expected ${e.size} B ${e.hash.slice(0, 8)}, got ${a.size} B ${a.hash.slice(0, 8)}`,
      );
    } else if (a.group !== e.group)
      lines.push(`link group of ${path}: expected ${e.group}, got ${a.group}`);
    else if (a.kind !== e.kind) lines.push(`kind of ${path}: expected ${e.kind}, got ${a.kind}`);
  }
  for (const [path, a] of got) if (!want.has(path)) lines.push(`unexpected ${path} (${a.size} B)`);
  return lines.length === 0 ? 'no difference' : lines.slice(0, 12).join('; ');
}
